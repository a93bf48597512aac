"""Input/output: atomic file writing, video reading and writing, rendering."""
from .files import atomic_open, atomic_write_json, read_json

__all__ = ["atomic_open", "atomic_write_json", "read_json"]
