"""The partial log of an unfinished on-the-fly evaluation: what lets a killed evaluation resume."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from vidsparse.core.io import append_jsonl, atomic_write_text, jsonl_text, read_jsonl


class PartialLog:
    """Finished samples' predictions, appended as JSON lines, so a killed evaluation resumes.

    The first line holds the fingerprint of what is being evaluated; then one line per
    finished sample. A line cut short by a kill does not parse and is left out when read, and ``start`` rewrites
    the file atomically without it. Appending a few lines per batch costs next to nothing,
    so even a SIGKILL loses at most the batches in flight.
    """

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path, self.fingerprint = Path(path), fingerprint
        self.handle = None

    @staticmethod
    def read(path: Path, fingerprint: str) -> list[dict]:
        """Rows of a log made for ``fingerprint``; [] when absent, unreadable or made for other work."""
        try:
            values, _ = read_jsonl(path)  # a line cut short by a kill does not parse: left out
        except (OSError, UnicodeDecodeError):
            return []
        header = values[0] if values else {}
        if not isinstance(header, dict) or header.get("fingerprint") != fingerprint:
            return []
        return [r for r in values[1:] if isinstance(r, dict)]

    def start(self, rows: Sequence[dict]) -> None:
        """Write the header and ``rows`` (what is already known) atomically, then append from there."""
        atomic_write_text(self.path, jsonl_text([{"fingerprint": self.fingerprint}, *rows]))
        self.handle = open(self.path, "a")

    def append(self, rows: Sequence[dict]) -> None:
        if rows and self.handle is not None:
            append_jsonl(self.handle, rows)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
