"""The job's record: ``OUT/manifest.jsonl`` (what is done, verified by checksum) and ``failures.jsonl``.

Every output is recorded with its sha256; a re-run skips outputs whose file still matches and
redoes the rest. Readers of a finished set use ``vidsparse.data.corrupted``, which owns the
file names.
"""

from __future__ import annotations

import hashlib
import shutil
import traceback
from pathlib import Path
from typing import Any, Iterable

import corruptions
from vidsparse.core.io import append_jsonl, atomic_write_text, jsonl_text, read_jsonl
from vidsparse.data.corrupted import FAILURES, MANIFEST
from vidsparse.errors import first_line


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(folder: Path) -> str:
    """Checksum of a folder of outputs: sha256 over sorted (name, file sha256) lines."""
    lines = [f"{p.relative_to(folder).as_posix()} {sha256_file(p)}\n" for p in sorted(folder.rglob("*")) if p.is_file()]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def shard_name(name: str, shard: tuple[int, int] | None) -> str:
    """``manifest.jsonl`` -> ``manifest.shard-2-of-8.jsonl``: each array task keeps its own
    record, so tasks never write one file at once (``--merge`` joins them)."""
    if shard is None:
        return name
    stem, _, suffix = name.rpartition(".")
    return f"{stem}.shard-{shard[0]}-of-{shard[1]}.{suffix}"


def shard_files(out: Path, name: str = MANIFEST) -> dict[tuple[int, int], Path]:
    """(index, count) -> the shards' files of ``name`` found in ``out``."""
    stem, _, suffix = name.rpartition(".")
    found = {}
    for path in sorted(out.glob(f"{stem}.shard-*-of-*.{suffix}")):
        index, _, count = path.name[len(stem) + 7: -len(suffix) - 1].partition("-of-")
        if index.isdigit() and count.isdigit():
            found[(int(index), int(count))] = path
    return found


class Manifest:
    """``OUT/manifest.jsonl`` (or one shard's ``manifest.shard-I-of-N.jsonl``): one row per
    finished output (a file, or a folder for image classes)."""

    def __init__(self, out: Path, shard: tuple[int, int] | None = None):
        self.path = out / shard_name(MANIFEST, shard)
        rows, self.damaged = read_jsonl(self.path)  # damaged: appending after a cut line would spoil the next row
        self.rows: dict[str, dict[str, Any]] = {r["output"]: r for r in rows
                                                if isinstance(r, dict) and "output" in r and "sha256" in r}

    def take(self, path: Path) -> None:
        """Add the rows of another manifest file (a shard's) to what is known done."""
        rows, _ = read_jsonl(path)
        self.rows.update({r["output"]: r for r in rows if isinstance(r, dict) and "output" in r and "sha256" in r})

    def is_done(self, out: Path, output: str) -> bool:
        """True when ``output`` is in the manifest and its file(s) still match the checksum."""
        row = self.rows.get(output)
        target = out / output
        if row is None or not target.exists():
            return False
        actual = sha256_tree(target) if target.is_dir() else sha256_file(target)
        return actual == row["sha256"]

    def add(self, row: dict[str, Any]) -> None:
        self.rows[row["output"]] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            append_jsonl(handle, [row])

    def compact(self, order: Iterable[str] = ()) -> None:
        """Rewrite the manifest with one row per output (later rows replace earlier ones).

        Rows follow ``order`` (the job's outputs as it enumerates them; others after, as they
        were), so the file does not depend on interruptions or on which worker finished first.
        """
        position = {output: i for i, output in enumerate(order)}
        rows = sorted(self.rows.values(), key=lambda row: position.get(row["output"], len(position)))
        if rows or self.path.exists():
            atomic_write_text(self.path, jsonl_text(rows))
        self.damaged = False


def remove_stale_temporaries(out: Path) -> int:
    """Delete temporary files and folders (image classes) a killed run left behind; they are
    never valid outputs."""
    removed = 0
    if out.is_dir():
        stale = [p for p in out.rglob(".*.tmp*") if ".tmp-" in p.name or p.name.endswith(".tmp")]
        for path in sorted(stale, key=lambda p: len(p.parts)):  # a folder before what it holds
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()
            else:
                continue
            removed += 1
    return removed


def output_row(source: str, output: str, info: corruptions.CorruptionInfo, sha: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": source, "output": output, "corruption": info.name, "severity": info.severity,
        "variant": info.variant, "preset": info.preset, "function": info.function, "family": info.family,
        "seed": info.seed, "parameters": info.params, "coherent": info.coherent,
        "frames_in": info.frames_in, "frames_out": info.frames_out, **extra,
        "frost_source": info.extra.get("frost_source"), "sha256": sha,
    }


def failure_row(source: str, output: str, err: BaseException) -> dict[str, Any]:
    return {"source": source, "output": output, "error": f"{type(err).__name__}: {first_line(err)}",
            "traceback": "".join(traceback.format_exception(err))[-2000:]}


def write_failures(out: Path, failures: list[dict[str, Any]], shard: tuple[int, int] | None = None) -> None:
    path = out / shard_name(FAILURES, shard)
    if failures:
        atomic_write_text(path, jsonl_text(failures))
    elif path.exists():
        path.unlink()
