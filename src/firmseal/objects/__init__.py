"""Versioned storage of source and signed objects."""
