"""Atomic file writes and JSON-lines logs: a crash mid-write must never leave a half-written output behind."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: do it once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


# ----------------------------------------------------------------------------------------------
# JSON-lines logs: appended as work finishes, so a killed job loses at most the lines in flight


def jsonl_text(rows: Iterable[Any]) -> str:
    """One JSON value per line, each line ending in a newline."""
    return "".join(json.dumps(row) + "\n" for row in rows)


def append_jsonl(handle: IO[str], rows: Iterable[Any]) -> None:
    """Append ``rows`` to an open log and flush, so the lines survive a kill of this process."""
    handle.write(jsonl_text(rows))
    handle.flush()


def read_jsonl(path: str | os.PathLike) -> tuple[list[Any], bool]:
    """The values of a JSON-lines file in order, and whether it is damaged: its last line cut short by
    a kill (no newline) or a line that does not parse (skipped). A missing file: ([], False)."""
    path = Path(path)
    if not path.is_file():
        return [], False
    text = path.read_text()
    values, damaged = [], bool(text) and not text.endswith("\n")
    for line in text.splitlines():
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError:
            damaged = True
    return values, damaged
