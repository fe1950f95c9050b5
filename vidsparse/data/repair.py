"""``vidsparse data remux``: a standard copy of a dataset tree, made by stream copy (no re-encoding).

Videos with DivX-packed B-frames are unpacked and AVIs without an index get one; every other file
(other videos, split lists, images) is copied as it is, so the copy is a drop-in ``--data-root``.
A decode of each rewritten video yields the same frames as the original (checked as it goes):
the copy only changes how the frames are stored, never their pixels.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from vidsparse.data.check import needs_remux
from vidsparse.data.video.decoding import VIDEO_EXTENSIONS, VideoDecodeError
from vidsparse.data.video.reader import inspect_video
from vidsparse.data.video.writer import remux_video
from vidsparse.errors import UserError, first_line


@dataclass
class RemuxSummary:
    remuxed: list[Path] = field(default_factory=list)
    copied: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _same_frames(a: Path, b: Path) -> bool:
    frames_a, count_a = inspect_video(a).decode_from_start(None)
    frames_b, count_b = inspect_video(b).decode_from_start(None)
    return count_a == count_b and all(np.array_equal(frames_a[i], frames_b[i]) for i in frames_a)


def remux_tree(root: Path, out: Path, progress: Callable[[Iterable], Iterable] = lambda it: it) -> RemuxSummary:
    """Mirror ``root`` into ``out``; resumable: files already present in ``out`` are kept."""
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise UserError(f"data root not found: {root}")
    if out.resolve() == root.resolve() or root.resolve() in out.resolve().parents:
        raise UserError(f"--out {out} must lie outside --data-root {root}")
    summary = RemuxSummary()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in progress(files):
        target = out / path.relative_to(root)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in VIDEO_EXTENSIONS and needs_remux(path):
            try:
                remux_video(path, target)
                if not _same_frames(path, target):
                    target.unlink()
                    raise VideoDecodeError("the stream copy decodes to different frames; copied unchanged")
                summary.remuxed.append(target)
                continue
            except Exception as err:  # PyAV's own errors too: the original is copied unchanged
                summary.failed.append((path, first_line(err)))
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copy2(path, tmp)
        tmp.replace(target)
        summary.copied += 1
    return summary
