"""The partial log of an unfinished on-the-fly evaluation: what lets a killed evaluation resume."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from vidsparse.core.io import atomic_write_text


class PartialLog:
    """Finished samples' predictions, appended as JSON lines, so a killed evaluation resumes.

    The first line holds the fingerprint of what is being evaluated; then one line per
    finished sample. A line cut short by a kill is ignored when read, and ``start`` rewrites
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
            lines = Path(path).read_text().splitlines(keepends=True)
        except (OSError, UnicodeDecodeError):
            return []
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            return []
        if not isinstance(header, dict) or header.get("fingerprint") != fingerprint:
            return []
        rows = []
        for line in lines[1:]:
            if not line.endswith("\n"):
                break  # cut short by a kill
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return [r for r in rows if isinstance(r, dict)]

    def start(self, rows: Sequence[dict]) -> None:
        """Write the header and ``rows`` (what is already known) atomically, then append from there."""
        text = "".join(json.dumps(r) + "\n" for r in [{"fingerprint": self.fingerprint}, *rows])
        atomic_write_text(self.path, text)
        self.handle = open(self.path, "a")

    def append(self, rows: Sequence[dict]) -> None:
        if rows and self.handle is not None:
            self.handle.write("".join(json.dumps(r) + "\n" for r in rows))
            self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
