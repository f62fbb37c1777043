"""Compose: translate a Project to a compose document, export it, import compose files."""
