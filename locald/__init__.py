"""locald: one locald.toml runs a development stack of host processes and Docker containers."""

__version__ = "0.1.0"
