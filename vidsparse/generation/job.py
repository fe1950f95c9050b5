"""Write corrupted copies of a dataset: ``OUT/<corruption>/<severity>/...`` plus ``manifest.jsonl``.

Videos (ucf101, hmdb51, folder, synthetic): every video file under the data root is decoded
once, corrupted at every requested (corruption, severity) and written to
``OUT/<corruption>/<severity>/<same relative path>``; the split files and other small
non-video files are copied into each ``OUT/<corruption>/<severity>/`` so the corrupted set
loads with the same dataset reader. Outputs are coded losslessly by default (RGB H.264 at
qp 0; RGB VP9 lossless for .webm): read back, they equal corruptions.apply's output bit for bit.

Images: CIFAR test batches become CIFAR-10-C style ``<corruption>.npy`` + ``labels.npy``;
ImageNet / Tiny-ImageNet class folders become ``<corruption>/<severity>/<class>/<image>``
JPEGs (quality 85), as the published -C sets.

Every output is written to a temporary name and renamed, and recorded in the manifest with its
sha256; a re-run skips outputs whose file still matches the manifest and redoes the rest, so a
job interrupted at any point (Ctrl-C, SIGTERM, even SIGKILL) and run again ends with the same
files as an uninterrupted one: the manifest is rewritten in the job's own output order, and
temporary files a killed run left behind are deleted. A video or image that fails is logged
and counted, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

import corruptions
from vidsparse.errors import UserError, did_you_mean

VIDEO_DATASETS = ("ucf101", "hmdb51", "folder", "synthetic")
IMAGE_DATASETS = ("cifar10", "cifar100", "tinyimagenet", "imagenet")
DATASETS = VIDEO_DATASETS + IMAGE_DATASETS
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v")
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
DEFAULT_PRESET = {
    "ucf101": "ucf101-p", "hmdb51": "hmdb51-p", "folder": "ucf101-p", "synthetic": "ucf101-p",
    "cifar10": "cifar-c", "cifar100": "cifar-c", "tinyimagenet": "tinyimagenet-c", "imagenet": "imagenet-c",
}
METADATA_SUFFIXES = (".txt", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".lst", ".list")
METADATA_MAX_BYTES = 5_000_000  # text files up to this size are copied (split lists, class maps)
MANIFEST = "manifest.jsonl"
FAILURES = "failures.jsonl"
JPEG_QUALITY = 85  # ImageNet-C / Tiny-ImageNet-C


# ---------------------------------------------------------------------------------------------
# what to make


@dataclass(frozen=True)
class Selected:
    """One corruption to write; ``preset`` None = chosen per input by corruptions.apply."""

    name: str
    preset: str | None


@dataclass
class JobConfig:
    dataset: str
    data_root: Path
    out: Path
    corruptions: list[Selected]
    severities: list[int]
    variant: str = "fixed"
    seed: int = 0
    workers: int = 0
    limit: int | None = None
    crf: int = 0  # 0 = lossless video outputs
    progress: bool = True


def parse_severities(text: str) -> list[int]:
    """``1-5``, ``1,3,5`` or ``3`` -> sorted unique severities in 1..5."""
    values: set[int] = set()
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                values.update(range(low, high + 1))
            elif part:
                values.add(int(part))
    except ValueError:
        raise UserError(f"--severities expects e.g. 1-5 or 1,3,5, got {text!r}") from None
    if not values or not all(1 <= v <= 5 for v in values):
        raise UserError(f"--severities must lie in 1..5, got {text!r}")
    return sorted(values)


def select_corruptions(text: str, preset: str | None, default_preset: str) -> list[Selected]:
    """Resolve ``--corruptions all|PRESET|FAMILY|NAME,NAME`` (see docs/corruptions.md).

    all -> every corruption of ``--preset`` (or the dataset's default preset); PRESET -> that
    preset; FAMILY (or ``frame``) -> that family within ``--preset``, or across all presets
    when none is given; names -> those names. Without ``--preset`` a name is taken from the
    dataset's default preset when it has it, else from corruptions.apply's automatic choice.
    """
    try:
        if preset is not None:
            corruptions.names(preset)  # validates the preset name
        text = (text or "all").strip()
        if text == "all":
            chosen = preset or default_preset
            return [Selected(n, chosen) for n in corruptions.names(chosen)]
        if text in corruptions.presets() or text in _preset_aliases():
            return [Selected(n, text) for n in corruptions.names(text)]
        default_names = set(corruptions.names(default_preset))

        def chosen(name: str) -> Selected:
            return Selected(name, preset or (default_preset if name in default_names else None))

        if text in corruptions.families() or text == "frame":
            return [chosen(n) for n in corruptions.names(preset, family=text)]
        names = [n.strip() for n in text.split(",") if n.strip()]
        valid = corruptions.names(preset)
        for name in names:
            if name not in valid:
                raise did_you_mean(name, valid, "corruption" + (f" in preset {preset}" if preset else ""))
        return [chosen(n) for n in dict.fromkeys(names)]
    except corruptions.CorruptionError as err:
        raise UserError(str(err)) from None


def _preset_aliases() -> list[str]:
    from corruptions.presets import aliases

    return list(aliases())


# ---------------------------------------------------------------------------------------------
# manifest: what is done, verified by checksum


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


class Manifest:
    """``OUT/manifest.jsonl``: one row per finished output (a file, or a folder for image classes)."""

    def __init__(self, out: Path):
        self.path = out / MANIFEST
        self.rows: dict[str, dict[str, Any]] = {}
        self.damaged = False  # a line cut short by a kill: appending after it would spoil the next row
        if self.path.is_file():
            text = self.path.read_text()
            self.damaged = bool(text) and not text.endswith("\n")
            for line in text.splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    self.damaged = True
                    continue
                if isinstance(row, dict) and "output" in row and "sha256" in row:
                    self.rows[row["output"]] = row

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
            handle.write(json.dumps(row) + "\n")

    def compact(self, order: Iterable[str] = ()) -> None:
        """Rewrite the manifest with one row per output (later rows replace earlier ones).

        Rows follow ``order`` (the job's outputs as it enumerates them; others after, as they
        were), so the file does not depend on interruptions or on which worker finished first.
        """
        from vidsparse.core.io import atomic_write_text

        position = {output: i for i, output in enumerate(order)}
        rows = sorted(self.rows.values(), key=lambda row: position.get(row["output"], len(position)))
        if rows or self.path.exists():
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in rows))
        self.damaged = False


@dataclass
class Summary:
    written: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    inputs: int = 0
    outputs: list[str] = field(default_factory=list)  # every output of the job, in its order

    def line(self) -> str:
        return (f"{self.written} outputs written, {self.skipped} already done, "
                f"{len(self.failed)} failed ({self.inputs} inputs)")


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


# ---------------------------------------------------------------------------------------------
# videos


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
    crf: int


def video_encoding(suffix: str, crf: int) -> tuple[str, dict[str, str], str]:
    """(codec, options, pixel format) for an output container: lossless unless ``crf`` > 0.

    Lossless is exact: RGB is coded as RGB (libx264rgb qp 0; VP9 lossless in planar RGB for
    .webm, which cannot hold H.264), so the frames read back are bit-identical to what
    corruptions.apply returned. x264 preset ultrafast (CAVLC) writes and decodes several times
    faster than CABAC presets for ~15% more bytes. One encoder thread: the job parallelises
    over videos.
    """
    webm = suffix.lower() == ".webm"
    if crf == 0:
        if webm:
            return "libvpx-vp9", {"lossless": "1", "deadline": "realtime", "cpu-used": "8", "threads": "1"}, "gbrp"
        return "libx264rgb", {"qp": "0", "preset": "ultrafast", "threads": "1"}, "rgb24"
    if webm:
        options = {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8", "threads": "1"}
        return "libvpx-vp9", options, "yuv420p"
    return "libx264", {"crf": str(crf), "preset": "veryfast", "threads": "1"}, "yuv420p"


def find_videos(root: Path, exclude: Path | None = None) -> list[Path]:
    return sorted(
        p for p in root.rglob("*")
        if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file() and not _hidden(p, root) and not _inside(p, exclude)
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
    from vidsparse.data.video.reader import read_video
    from vidsparse.data.video.writer import write_video

    try:
        frames, fps = read_video(task.source)
    except Exception as err:  # any decoder failure (VideoDecodeError or worse) is this video's, not the job's
        return [_failure(task.relative, o.output, err) for o in task.outputs]
    clip = frames.permute(0, 3, 1, 2).contiguous()
    codec, options, pix_fmt = video_encoding(task.source.suffix, task.crf)
    rows = []
    for spec in task.outputs:
        try:
            corrupted, info = corruptions.apply_with_info(
                clip, spec.name, spec.severity, seed=task.seed, preset=spec.preset, variant=task.variant,
                video_id=task.relative, fps=fps,
            )
            target = task.out / spec.output
            write_video(target, corrupted.permute(0, 2, 3, 1), info.fps or fps,
                        codec=codec, options=options, pix_fmt=pix_fmt)
            rows.append(_row(task.relative, spec.output, info, sha256_file(target), fps=info.fps or fps))
        except Exception as err:
            rows.append(_failure(task.relative, spec.output, err))
    return rows


def _row(source: str, output: str, info: corruptions.CorruptionInfo, sha: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": source, "output": output, "corruption": info.name, "severity": info.severity,
        "variant": info.variant, "preset": info.preset, "function": info.function, "family": info.family,
        "seed": info.seed, "parameters": info.params, "coherent": info.coherent,
        "frames_in": info.frames_in, "frames_out": info.frames_out, **extra,
        "frost_source": info.extra.get("frost_source"), "sha256": sha,
    }


def _failure(source: str, output: str, err: BaseException) -> dict[str, Any]:
    message = str(err).splitlines()[0] if str(err) else type(err).__name__
    return {"source": source, "output": output, "error": f"{type(err).__name__}: {message}",
            "traceback": "".join(traceback.format_exception(err))[-2000:]}


def copy_metadata(root: Path, out_dirs: Iterable[Path], exclude: Path | None) -> None:
    files = metadata_files(root, exclude)
    for folder in out_dirs:
        for path in files:
            target = folder / path.relative_to(root)
            if not target.is_file() or target.stat().st_size != path.stat().st_size:
                _write_atomically(target, lambda tmp, source=path: shutil.copyfile(source, tmp))


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then rename onto ``path``; the temporary goes on any exit, Ctrl-C included.

    Not io_utils.atomic_write: its temporaries (mkstemp) are private (0600), and a corrupted
    set is usually shared, so outputs keep the usual umask permissions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def video_tasks(cfg: JobConfig, manifest: Manifest, summary: Summary) -> list[VideoTask]:
    videos = find_videos(cfg.data_root, exclude=cfg.out)
    if not videos:
        raise UserError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) under {cfg.data_root}")
    videos = videos[: cfg.limit] if cfg.limit else videos
    summary.inputs = len(videos)
    tasks = []
    for path in videos:
        relative = path.relative_to(cfg.data_root).as_posix()
        pending = []
        for sel in cfg.corruptions:
            for severity in cfg.severities:
                output = f"{sel.name}/{severity}/{relative}"
                summary.outputs.append(output)
                if manifest.is_done(cfg.out, output):
                    summary.skipped += 1
                else:
                    pending.append(VideoOutput(sel.name, sel.preset, severity, output))
        if pending:
            tasks.append(VideoTask(path, relative, tuple(pending), cfg.out, cfg.variant, cfg.seed, cfg.crf))
    return tasks


# ---------------------------------------------------------------------------------------------
# images


@dataclass(frozen=True)
class ArrayTask:
    """CIFAR: every severity of one corruption over the whole test batch -> one .npy."""

    source: str
    name: str
    preset: str | None
    severities: tuple[int, ...]
    images: np.ndarray  # uint8 [N, 32, 32, 3]
    out: Path
    variant: str
    seed: int


@dataclass(frozen=True)
class FolderTask:
    """ImageNet / Tiny-ImageNet: one class folder at one (corruption, severity)."""

    source: str  # class folder, relative to the data root
    label: str  # class name; images are seeded by "<class>/<file name>"
    images: tuple[tuple[Path, str], ...]  # (file, output name)
    name: str
    preset: str | None
    severity: int
    output: str  # <corruption>/<severity>/<class>
    out: Path
    variant: str
    seed: int
    center_crop: int | None  # ImageNet-C: resize short side to 256, centre-crop 224


def load_cifar(dataset: str, root: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(images uint8 [N, 32, 32, 3], labels int64 [N], source path) of the CIFAR test batch,
    parsed by the training reader so both see the same images in the same order."""
    from vidsparse.data.image.datasets import CIFAR, cifar_batch

    layout = CIFAR[dataset]
    candidates = [root / layout.folder / layout.test_file, root / layout.test_file]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise UserError(
            f"no CIFAR test batch at {candidates[0]} (or {candidates[1]}); extract the python version there"
        )
    images, labels = cifar_batch(path, layout.label_key)
    return np.ascontiguousarray(images), labels, str(path.relative_to(root))


def corrupt_array(task: ArrayTask) -> list[dict[str, Any]]:
    """Each image on its own (T = 1), seeded by its index in the test set: the ids and the
    apply arguments the on-the-fly evaluation uses (``ImageSource``), so a generated set and
    on-the-fly corruption agree bit for bit. One call per image, since a call draws from one
    generator: 200 images x 5 severities take 0.08 s (gaussian_noise) to 1.3 s (jpeg)."""
    output = f"{task.name}.npy"
    try:
        images = torch.from_numpy(task.images).permute(0, 3, 1, 2)
        stacked = np.empty((len(task.severities), *task.images.shape), np.uint8)
        params, info = [], None
        for k, severity in enumerate(task.severities):
            for index, image in enumerate(images):
                corrupted, info = corruptions.apply_with_info(
                    image, task.name, severity, seed=task.seed, preset=task.preset, variant=task.variant,
                    video_id=str(index),
                )
                stacked[k, index] = corrupted.permute(1, 2, 0).numpy()
            params.append(info.params)
        target = task.out / output
        _atomic_npy(target, stacked.reshape(-1, *task.images.shape[1:]))
        row = _row(task.source, output, info, sha256_file(target))
        row.update(severity=list(task.severities), parameters=params, frames_in=len(images), frames_out=len(images))
        return [row]
    except Exception as err:
        return [_failure(task.source, output, err)]


def _atomic_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.save would append .npy to the temporary name
            np.save(handle, array)

    _write_atomically(path, write)


def image_folders(dataset: str, root: Path) -> tuple[Path, dict[str, list[Path]]]:
    """Class -> image files: ``root/val/<class>/`` (or ``root/<class>/``), or Tiny-ImageNet's
    original ``val/images/`` + ``val/val_annotations.txt``."""
    base = root / "val" if (root / "val").is_dir() else root
    annotations = base / "val_annotations.txt"
    classes: dict[str, list[Path]] = {}
    if annotations.is_file() and (base / "images").is_dir():
        for line in annotations.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and (base / "images" / parts[0]).is_file():
                classes.setdefault(parts[1], []).append(base / "images" / parts[0])
    else:
        for folder in sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")):
            files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if files:
                classes[folder.name] = files
    if not classes:
        raise UserError(f"no class folders of images under {base}; expected {base}/<class>/<image>.JPEG")
    return base, {k: sorted(v) for k, v in sorted(classes.items())}


def _load_image(path: Path, center_crop: int | None) -> torch.Tensor:
    from PIL import Image

    from vidsparse.data.image.io import open_rgb8

    image = open_rgb8(path)
    if center_crop:
        scale = 256 / min(image.size)
        image = image.resize((max(center_crop, round(image.width * scale)),
                              max(center_crop, round(image.height * scale))), Image.BILINEAR)
        left, top = (image.width - center_crop) // 2, (image.height - center_crop) // 2
        image = image.crop((left, top, left + center_crop, top + center_crop))
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def _jpeg_name(name: str) -> str:
    stem, suffix = os.path.splitext(name)
    return name if suffix.lower() in (".jpeg", ".jpg") else f"{stem}.JPEG"


def corrupt_folder(task: FolderTask) -> list[dict[str, Any]]:
    from PIL import Image

    target = task.out / task.output
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        info = None
        for path, name in task.images:
            corrupted, info = corruptions.apply_with_info(
                _load_image(path, task.center_crop), task.name, task.severity, seed=task.seed,
                preset=task.preset, variant=task.variant, video_id=f"{task.label}/{name}",
            )
            Image.fromarray(corrupted.permute(1, 2, 0).numpy()).save(tmp / _jpeg_name(name), quality=JPEG_QUALITY)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        row = _row(task.source, task.output, info, sha256_tree(target))
        row.update(images=len(task.images))
        return [row]
    except Exception as err:
        return [_failure(task.source, task.output, err)]
    finally:  # also on Ctrl-C / SIGTERM
        shutil.rmtree(tmp, ignore_errors=True)


def array_tasks(cfg: JobConfig, manifest: Manifest, summary: Summary) -> list[ArrayTask]:
    images, labels, source = load_cifar(cfg.dataset, cfg.data_root)
    if cfg.limit:
        images, labels = images[: cfg.limit], labels[: cfg.limit]
    summary.inputs = len(images)
    label_type = np.uint8 if labels.max() < 256 else np.int64  # CIFAR-10-C stores uint8 labels
    _atomic_npy(cfg.out / "labels.npy", np.tile(labels, len(cfg.severities)).astype(label_type))
    tasks = []
    for sel in cfg.corruptions:
        output = f"{sel.name}.npy"
        summary.outputs.append(output)
        if manifest.is_done(cfg.out, output) and manifest.rows[output].get("severity") == cfg.severities:
            summary.skipped += 1
        else:
            tasks.append(ArrayTask(source, sel.name, sel.preset, tuple(cfg.severities), images, cfg.out,
                                   cfg.variant, cfg.seed))
    return tasks


def folder_tasks(cfg: JobConfig, manifest: Manifest, summary: Summary) -> list[FolderTask]:
    base, classes = image_folders(cfg.dataset, cfg.data_root)
    if cfg.limit:
        kept, left = {}, cfg.limit
        for name, files in classes.items():
            if left <= 0:
                break
            kept[name], left = files[:left], left - len(files[:left])
        classes = kept
    summary.inputs = sum(len(v) for v in classes.values())
    crop = 224 if cfg.dataset == "imagenet" else None
    tasks = []
    for sel in cfg.corruptions:
        for severity in cfg.severities:
            for name, files in classes.items():
                output = f"{sel.name}/{severity}/{name}"
                summary.outputs.append(output)
                if manifest.is_done(cfg.out, output):
                    summary.skipped += 1
                    continue
                images = tuple((p, p.name) for p in files)
                source = (base / name).relative_to(cfg.data_root).as_posix()
                tasks.append(FolderTask(source, name, images, sel.name, sel.preset, severity, output, cfg.out,
                                        cfg.variant, cfg.seed, crop))
    return tasks


# ---------------------------------------------------------------------------------------------
# running


def _worker_init() -> None:
    torch.set_num_threads(1)  # parallelism comes from the processes


def _results(worker: Callable[[Any], list[dict]], tasks: list, workers: int) -> Iterator[list[dict]]:
    if workers <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small per-frame ops: extra threads only contend (5x slower on a busy CPU)
        try:
            for task in tasks:
                yield worker(task)
        finally:
            torch.set_num_threads(threads)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init)
    try:
        futures = [pool.submit(worker, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()
    finally:  # interrupted: drop the queued tasks instead of running them all first
        pool.shutdown(wait=True, cancel_futures=True)


def _task_size(task: Any) -> int:
    return len(task.outputs) if isinstance(task, VideoTask) else len(getattr(task, "severities", (1,)))


def preload(selection: Iterable[Selected] | None = None) -> None:
    """Import every corruption family and decode the frost photographs once, before workers
    fork, so each worker inherits them instead of paying the cost again.
    ``selection`` None = assume frost is used."""
    from corruptions.registry import functions

    functions()
    if selection is None or any(s.name == "frost" for s in selection):
        from corruptions.weather import frost_source

        frost_source()


def run_job(cfg: JobConfig) -> Summary:
    """Make every requested output that is not already done; return what happened."""
    if cfg.dataset not in DATASETS:
        raise did_you_mean(cfg.dataset, DATASETS, "dataset")
    if not cfg.data_root.is_dir():
        raise UserError(f"data root not found: {cfg.data_root}")
    preload(cfg.corruptions)
    cfg.out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(cfg.out)
    manifest, summary = Manifest(cfg.out), Summary()
    if manifest.damaged:
        manifest.compact()
    if cfg.dataset in VIDEO_DATASETS:
        tasks, worker = video_tasks(cfg, manifest, summary), corrupt_video
        cells = (cfg.out / s.name / str(v) for s in cfg.corruptions for v in cfg.severities)
        copy_metadata(cfg.data_root, cells, cfg.out)
    elif cfg.dataset.startswith("cifar"):
        tasks, worker = array_tasks(cfg, manifest, summary), corrupt_array
    else:
        tasks, worker = folder_tasks(cfg, manifest, summary), corrupt_folder
    failures = []
    from tqdm import tqdm

    total = sum(_task_size(t) for t in tasks)
    bar = tqdm(total=total, desc="corrupt", unit="output", disable=not cfg.progress or None, file=sys.stderr)
    try:
        with bar, closing(_results(worker, tasks, cfg.workers)) as results:
            for rows in results:
                for row in rows:
                    if "error" in row:
                        failures.append(row)
                        bar.write(f"failed: {row['output']}: {row['error']}", file=sys.stderr)
                    else:
                        manifest.add(row)
                        summary.written += 1
                bar.update(len(rows))
    finally:  # interrupted too: what is finished stays recorded, in the job's order
        manifest.compact(summary.outputs)
    _write_failures(cfg.out, failures)
    summary.failed = [{"source": f["source"], "output": f["output"], "error": f["error"]} for f in failures]
    return summary


def _write_failures(out: Path, failures: list[dict[str, Any]]) -> None:
    path = out / FAILURES
    if failures:
        from vidsparse.core.io import atomic_write_text

        atomic_write_text(path, "".join(json.dumps(f) + "\n" for f in failures))
    elif path.exists():
        path.unlink()
