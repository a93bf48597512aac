"""User-facing errors.

Anything the user can fix (a missing file, malformed JSON, an unknown config key, a checkpoint that
does not fit the model) raises a subclass of `VisError` with a one-line message naming the problem.
Command-line tools catch `VisError` and exit with code 2 and that line, never a traceback.
"""


class VisError(Exception):
    """A problem with the user's input; the message is one line and names the problem."""


class ConfigError(VisError):
    """Unknown or invalid configuration key or value."""


class DataError(VisError):
    """Missing, malformed or inconsistent dataset files."""


class CheckpointError(VisError):
    """A checkpoint that is missing, unreadable or does not fit the model."""
