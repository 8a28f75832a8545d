"""Data shipped with the package: example records for previews and test alerts."""
