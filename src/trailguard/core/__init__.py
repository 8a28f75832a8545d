"""Core types, the rule registry, the engine and settings."""
