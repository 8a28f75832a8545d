# Files starting with "_" are never loaded as rule modules: importing this one fails on purpose.
raise RuntimeError("_shared.py must not be loaded")
