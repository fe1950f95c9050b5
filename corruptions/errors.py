"""The one exception type of the standalone corruptions package."""

from __future__ import annotations


class CorruptionError(ValueError):
    """Bad input to a corruption (unknown name, severity out of range, wrong tensor).

    Messages are one line that names the problem and the fix, so that a CLI built on top
    can print them without a traceback. Subclassing ValueError lets callers catch it the
    ordinary way.
    """
