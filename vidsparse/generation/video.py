"""Corrupted copies of video datasets: every video decoded once, written at every (corruption, severity).

``OUT/<corruption>/<severity>/<same relative path>``, plus the split files and other small text
files copied into each such folder, so the corrupted set loads with the same dataset reader.
Outputs are coded losslessly by default (RGB H.264 at qp 0; RGB VP9 lossless for .webm): read
back, they equal corruptions.apply's output bit for bit.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import corruptions
from vidsparse.core.io import atomic_write
from vidsparse.data.video.reader import read_video
from vidsparse.data.video.writer import write_video
from vidsparse.errors import UserError
from vidsparse.generation.config import JobConfig, Summary
from vidsparse.generation.manifest import Manifest, failure_row, output_row, sha256_file

# Containers the job writes back (the decoders read more: .gif, .mpg, which it cannot encode).
WRITABLE_VIDEO = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v")
METADATA_SUFFIXES = (".txt", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".lst", ".list")


METADATA_MAX_BYTES = 5_000_000  # text files up to this size are copied (split lists, class maps)


@dataclass(frozen=True)
class VideoOutput:
    name: str
    preset: str | None
    severity: int
    output: str  # relative to OUT


@dataclass(frozen=True)
class VideoTask:
    source: Path
    relative: str
    outputs: tuple[VideoOutput, ...]
    out: Path
    variant: str
    seed: int
    crf: int | None  # None = lossless

    @property
    def size(self) -> int:
        """Outputs this task writes (for the progress bar)."""
        return len(self.outputs)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(o.output for o in self.outputs)


@dataclass(frozen=True)
class Coding:
    """How the job codes its video outputs; ``record`` is what the manifest says about it."""

    codec: str
    options: dict[str, str]
    pix_fmt: str
    crf: int | None  # None = lossless

    def record(self) -> dict[str, Any]:
        return {"codec": self.codec, "pix_fmt": self.pix_fmt,
                **({"lossless": True} if self.crf is None else {"crf": self.crf})}


def coding_for(suffix: str, crf: int | None) -> Coding:
    """The coding of an output container: H.264 CRF ``crf`` in 4:4:4 (the default,
    ``DEFAULT_CRF``), or lossless RGB when ``crf`` is None.

    4:4:4, not the usual 4:2:0: halving the chroma resolution averages away half of the colour
    noise the noise corruptions add (measured on real-ish clips: worst PSNR against the exact
    frames 17.0 dB in 4:2:0 at any CRF from 12 to 23, 24.4 dB in 4:4:4 at CRF 17, for 1.5x the
    bytes; docs/corruptions.md). VP9 for .webm stays 4:2:0.

    Lossless is exact: RGB is coded as RGB (libx264rgb qp 0; VP9 lossless in planar RGB for
    .webm, which cannot hold H.264), so the frames read back are bit-identical to what
    corruptions.apply returned, at about 8x the bytes (docs/corruptions.md, "Encoding of the
    outputs"). x264 preset ultrafast (CAVLC) writes and decodes several times faster than CABAC
    presets for ~15% more bytes. One encoder thread: the job parallelises over videos.
    """
    webm = suffix.lower() == ".webm"
    if crf is None:
        if webm:
            options = {"lossless": "1", "deadline": "realtime", "cpu-used": "8", "threads": "1"}
            return Coding("libvpx-vp9", options, "gbrp", None)
        return Coding("libx264rgb", {"qp": "0", "preset": "ultrafast", "threads": "1"}, "rgb24", None)
    if webm:
        options = {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8", "threads": "1"}
        return Coding("libvpx-vp9", options, "yuv420p", crf)
    return Coding("libx264", {"crf": str(crf), "preset": "veryfast", "threads": "1"}, "yuv444p", crf)


def find_videos(root: Path, exclude: Path | None = None) -> list[Path]:
    return sorted(
        p for p in root.rglob("*")
        if p.suffix.lower() in WRITABLE_VIDEO and p.is_file() and not _hidden(p, root) and not _inside(p, exclude)
    )


def metadata_files(root: Path, exclude: Path | None = None) -> list[Path]:
    """Small text files (split lists, class index, the synthetic set's marker) to copy along.

    Only text suffixes: a data root that also holds extracted frames or archives must not
    have them copied into every corruption x severity folder.
    """
    return sorted(
        p for p in root.rglob("*")
        if p.suffix.lower() in METADATA_SUFFIXES and p.is_file() and not _hidden(p.parent, root)
        and not _inside(p, exclude) and ".tmp" not in p.name and p.stat().st_size <= METADATA_MAX_BYTES
    )


def _hidden(path: Path, root: Path) -> bool:
    """Inside (or itself) a dot-folder/dot-file below ``root``."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def corrupt_video(task: VideoTask) -> list[dict[str, Any]]:
    """Decode one video once and write all its pending outputs; one result row per output.

    Runs in worker processes, so it takes and returns plain data and never raises: a video
    that cannot be decoded fails all its outputs, a corruption that fails fails only its own.
    """
    try:
        frames, fps = read_video(task.source)
    except Exception as err:  # any decoder failure (VideoDecodeError or worse) is this video's, not the job's
        return [failure_row(task.relative, o.output, err) for o in task.outputs]
    clip = frames.permute(0, 3, 1, 2).contiguous()
    coding = coding_for(task.source.suffix, task.crf)
    rows = []
    for spec in task.outputs:
        try:
            corrupted, info = corruptions.apply_with_info(
                clip, spec.name, spec.severity, seed=task.seed, preset=spec.preset, variant=task.variant,
                video_id=task.relative, fps=fps,
            )
            target = task.out / spec.output
            write_video(target, corrupted.permute(0, 2, 3, 1), info.fps or fps,
                        codec=coding.codec, options=coding.options, pix_fmt=coding.pix_fmt)
            rows.append(output_row(task.relative, spec.output, info, sha256_file(target), fps=info.fps or fps,
                                   coding=coding.record()))
        except Exception as err:
            rows.append(failure_row(task.relative, spec.output, err))
    return rows


def copy_metadata(root: Path, out_dirs: Iterable[Path], exclude: Path | None) -> None:
    files = metadata_files(root, exclude)
    for folder in out_dirs:
        for path in files:
            target = folder / path.relative_to(root)
            if not target.is_file() or target.stat().st_size != path.stat().st_size:
                atomic_write(target, lambda tmp, source=path: shutil.copyfile(source, tmp))


def video_tasks(cfg: JobConfig, manifest: Manifest, summary: Summary) -> list[VideoTask]:
    """One task per video (this shard's videos only) with its outputs not yet done in the
    coding asked for: an output made with another coding is made again, never mixed in."""
    videos = find_videos(cfg.data_root, exclude=cfg.out)
    if not videos:
        raise UserError(f"no video files ({', '.join(WRITABLE_VIDEO)}) under {cfg.data_root}")
    videos = videos[: cfg.limit] if cfg.limit else videos
    summary.inputs = len(videos)
    tasks = []
    for unit, path in enumerate(videos):
        if not cfg.owns(unit):
            continue
        relative = path.relative_to(cfg.data_root).as_posix()
        coding = coding_for(path.suffix, cfg.crf).record()
        pending = []
        for sel in cfg.corruptions:
            for severity in cfg.severities:
                output = f"{sel.name}/{severity}/{relative}"
                summary.outputs.append(output)
                if manifest.is_done(cfg.out, output) and manifest.rows[output].get("coding") == coding:
                    summary.skipped += 1
                else:
                    pending.append(VideoOutput(sel.name, sel.preset, severity, output))
        if pending:
            tasks.append(VideoTask(path, relative, tuple(pending), cfg.out, cfg.variant, cfg.seed, cfg.crf))
    return tasks


def prepare_video_out(cfg: JobConfig) -> None:
    """Copy the split files into every output folder (identical in every shard: atomic writes)."""
    copy_metadata(cfg.data_root, (cfg.out / s.name / str(v) for s in cfg.corruptions for v in cfg.severities), cfg.out)
