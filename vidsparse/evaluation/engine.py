"""Corruption evaluation: top-1/top-5 per (corruption, severity), on the fly or from a generated set.

On the fly, every test sample is decoded once (the whole video: temporal corruptions act on
the full video before clips are sampled) and every requested (corruption, severity) variant is
made from those frames in memory and batched through the model; nothing is written to disk.
Where a corruption allows it (``corruptions.supports_frames``: noise, blur, weather, digital,
camera motion, and MPEG-2/4 up to the last frame read), only the frames the test views read
are corrupted. Each variant is seeded from (seed, video id, corruption, severity) by
``corruptions.apply``, exactly as ``vidsparse corrupt`` seeds the copies it writes (per-frame
draws are seeded per frame), so both modes see the same corrupted frames. Predictions are kept
per sample and every finished sample is appended to a log, so an evaluation that is
interrupted, even killed, resumes where it stopped. Under DDP
each rank takes a strided share of the samples and the predictions are gathered.

From a generated set (``vidsparse corrupt`` output: ``ROOT/<corruption>/<severity>/<source
layout>``), each cell is read with the ordinary dataset reader; absent cells are reported,
not fatal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm import tqdm

from vidsparse.data.video.transforms import ClipTransform
from vidsparse.data.video.dataset import ClipSpec, VideoClipDataset, test_views
from vidsparse.data.video.reader import read_video
from vidsparse.core.distributed import World, broadcast_object, gather_objects, joined_world, shard_indices
from vidsparse.errors import UserError, did_you_mean
from vidsparse.evaluation.accuracy import Accuracy, AccuracyCounter, bare_model, evaluate, predict_views
from vidsparse.core.io import atomic_write_text

CLEAN = "clean"

# The preset a run is evaluated on when --corruptions all names none: by dataset, then by kind.
NATURAL_PRESETS = {"cifar10": "cifar-c", "cifar100": "cifar-c", "tinyimagenet": "tinyimagenet-c",
                   "imagenet": "imagenet-c", "digits": "cifar-c"}
KIND_PRESETS = {"video": "ucf101-p", "image": "imagenet-c"}

# A generated copy of these datasets is read with another dataset's reader (same layout).
GENERATED_LAYOUT = {"synthetic": "ucf101"}


# ----------------------------------------------------------------------------------------------
# what to evaluate


@dataclass(frozen=True, order=True)
class Cell:
    """One evaluated condition: a corruption at a severity, or the clean input."""

    corruption: str
    severity: int = 0

    @property
    def is_clean(self) -> bool:
        return self.corruption == CLEAN


CLEAN_CELL = Cell(CLEAN)


@dataclass(frozen=True)
class CorruptionOptions:
    """Everything besides (corruption, severity) that decides the corrupted frames."""

    preset: str
    variant: str = "fixed"
    seed: int = 0
    coherent: bool | None = None


def natural_preset(dataset: str, kind: str = "video") -> str:
    return NATURAL_PRESETS.get(dataset, KIND_PRESETS.get(kind, "ucf101-p"))


def canonical_preset(name: str) -> str:
    """A preset name with aliases resolved (hmdb51-p -> ucf101-p), as results record it."""
    import corruptions
    from corruptions.presets import aliases

    name = aliases().get(name, name)
    if name not in corruptions.presets():
        raise did_you_mean(name, [*corruptions.presets(), *aliases()], "preset")
    return name


def resolve_corruptions(text: str | None, preset: str) -> tuple[list[str], str]:
    """``all | PRESET | FAMILY | NAME,...`` -> (names, canonical preset); None/'' = no corruption.

    Names and families are looked up in ``preset``; naming another preset switches to it
    (one preset per evaluation, since the same name means different things in different
    presets, e.g. motion_blur in ucf101-p and mini-kinetics-c).
    """
    import corruptions
    from corruptions.presets import aliases

    preset = canonical_preset(preset)
    if not text or text.strip().lower() == "none":
        return [], preset
    items = [t.strip() for t in text.split(",") if t.strip()]
    named_presets = [i for i in items if i in corruptions.presets() or i in aliases()]
    if len(named_presets) > 1 or (named_presets and len(items) > 1):
        raise UserError(f"--corruptions takes one preset per evaluation, got {text!r}; run 'vidsparse eval' once per preset")
    if named_presets:
        preset, items = canonical_preset(items[0]), ["all"]
    available = corruptions.names(preset)
    families = {*corruptions.families(), "frame"}
    chosen: list[str] = []
    for item in items:
        if item == "all":
            chosen += available
        elif item in families:
            members = corruptions.names(preset, family=item)
            if not members:
                raise UserError(f"preset {preset} has no corruption of family {item!r}")
            chosen += members
        elif item in available:
            chosen.append(item)
        else:
            raise did_you_mean(item, available + sorted(families) + ["all"], f"corruption (preset {preset})")
    return list(dict.fromkeys(chosen)), preset


def parse_severities(text: str | None) -> list[int]:
    """``1-5``, ``1,3,5`` or ``2`` -> sorted severities in 1..5."""
    text = (text or "1-5").replace(" ", "")
    values: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\d)(?:-(\d))?", part)
        if not match:
            raise UserError(f"--severities expects e.g. 1-5 or 1,3,5, got {text!r}")
        lo, hi = int(match[1]), int(match[2] or match[1])
        if not 1 <= lo <= hi <= 5:
            raise UserError(f"severities run from 1 to 5, got {text!r}")
        values.update(range(lo, hi + 1))
    return sorted(values)


# ----------------------------------------------------------------------------------------------
# sample sources: decode one sample, turn (possibly corrupted) frames into model input


@dataclass
class Sample:
    frames: torch.Tensor  # uint8 [T, C, H, W] (an image is T = 1)
    fps: float | None
    sample_id: str  # seeds the corruption: must equal what 'vidsparse corrupt' uses


@dataclass(frozen=True)
class FramePlan:
    """The frames a sample's test views read, and where each view clip finds its frames among them."""

    frames: list[int]  # sorted, unique indices into the decoded sample
    clips: list[list[int]]  # each clip's frames as positions in ``frames``

    @classmethod
    def of(cls, clips: list[list[int]]) -> FramePlan:
        frames = sorted({i for clip in clips for i in clip})
        position = {f: p for p, f in enumerate(frames)}
        return cls(frames, [[position[i] for i in clip] for clip in clips])


class Source(Protocol):
    def __len__(self) -> int: ...
    def label(self, index: int) -> int: ...
    def sample_id(self, index: int) -> str: ...
    def load(self, index: int) -> Sample: ...
    def plan(self, num_frames: int) -> FramePlan | None: ...  # None: the views read every frame
    def views(self, frames: torch.Tensor, plan: FramePlan | None = None) -> torch.Tensor: ...


def video_id(path: Path, root: Path) -> str:
    """A video's id for seeding: its path relative to the dataset root, '/'-separated."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def clip_views(frames: torch.Tensor, spec: ClipSpec, transform: ClipTransform) -> torch.Tensor:
    """uint8 [T, C, H, W] -> test views [clips * crops, C, T', H', W'].

    The same clip positions and crops as VideoClipDataset's test mode, taken from frames
    already in memory.
    """
    return test_views(frames.permute(0, 2, 3, 1), spec.test_clips(frames.shape[0]), spec, transform)


@dataclass
class VideoSource:
    """Test videos decoded whole (temporal corruptions need every frame)."""

    items: list[tuple[Path, int]]
    root: Path
    spec: ClipSpec
    transform: ClipTransform
    backend: str = "auto"

    def __len__(self) -> int:
        return len(self.items)

    def label(self, index: int) -> int:
        return self.items[index][1]

    def sample_id(self, index: int) -> str:
        return video_id(self.items[index][0], self.root)

    def load(self, index: int) -> Sample:
        frames, fps = read_video(self.items[index][0], backend=self.backend)
        return Sample(frames.permute(0, 3, 1, 2).contiguous(), fps, self.sample_id(index))

    def plan(self, num_frames: int) -> FramePlan:
        return FramePlan.of(self.spec.test_clips(num_frames))

    def views(self, frames: torch.Tensor, plan: FramePlan | None = None) -> torch.Tensor:
        """Test views of the whole video, or of ``plan.frames`` only (``frames`` holds just those)."""
        if plan is None:
            return clip_views(frames, self.spec, self.transform)
        return test_views(frames.permute(0, 2, 3, 1), plan.clips, self.spec, self.transform)


# ----------------------------------------------------------------------------------------------
# the on-the-fly engine


@dataclass
class _Item:
    cell: int
    index: int
    views: torch.Tensor | None = None
    error: str = ""  # set when the sample (cell < 0) or this variant could not be made


class _VariantStream(IterableDataset):
    """Yields every pending (cell, sample) pair; each sample is loaded once per pass."""

    def __init__(self, source: Source, cells: Sequence[Cell], options: CorruptionOptions, pending: list[int]):
        self.source, self.cells, self.options, self.pending = source, list(cells), options, pending

    def variant_views(self, sample: Sample, cell: Cell, plan: FramePlan | None) -> torch.Tensor:
        """The model input of one variant; only the frames in ``plan`` are made where the corruption allows."""
        import corruptions

        if cell.is_clean:
            return self.source.views(sample.frames)
        opts = self.options
        if plan is None or not corruptions.supports_frames(cell.corruption, opts.preset, opts.variant):
            plan = None
        frames = corruptions.apply(sample.frames, cell.corruption, cell.severity, seed=opts.seed, preset=opts.preset,
                                   variant=opts.variant, coherent=opts.coherent, video_id=sample.sample_id,
                                   fps=sample.fps, frames=None if plan is None else plan.frames)
        return self.source.views(frames, plan)

    def __iter__(self) -> Iterator[_Item]:
        worker = get_worker_info()
        mine = self.pending if worker is None else self.pending[worker.id :: worker.num_workers]
        for index in mine:
            try:
                sample = self.source.load(index)
                plan = self.source.plan(sample.frames.shape[0])  # which frames the views read
            except Exception as err:  # undecodable sample: skipped and counted for every cell
                yield _Item(-1, index, error=_one_line(err))
                continue
            for c, cell in enumerate(self.cells):
                try:
                    views = self.variant_views(sample, cell, plan)
                except Exception as err:  # one variant failed (e.g. frames too small for it)
                    yield _Item(c, index, error=_one_line(err))
                else:
                    yield _Item(c, index, views)


def _one_line(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _collate(items: list[_Item]):
    good = [i for i in items if i.views is not None]
    views = torch.stack([i.views for i in good]) if good else None
    cells = torch.tensor([i.cell for i in good], dtype=torch.long)
    indices = torch.tensor([i.index for i in good], dtype=torch.long)
    return views, cells, indices, [i for i in items if i.views is None]


class PredictionStore:
    """Top-k predictions per (cell, sample), with what failed and why."""

    PENDING, PREDICTED, FAILED = 0, 1, 2

    def __init__(self, num_cells: int, num_samples: int, k: int) -> None:
        self.top = torch.full((num_cells, num_samples, k), -1, dtype=torch.int32)
        self.state = torch.zeros((num_cells, num_samples), dtype=torch.int8)
        self.messages: dict[tuple[int, int], str] = {}  # (cell, sample) -> why it failed

    def put(self, cells: torch.Tensor, indices: torch.Tensor, top: torch.Tensor) -> None:
        self.top[cells, indices] = top.to(torch.int32).cpu()
        self.state[cells, indices] = self.PREDICTED

    def fail(self, item: _Item) -> None:
        cells = range(self.state.shape[0]) if item.cell < 0 else [item.cell]
        for c in cells:
            self.state[c, item.index] = self.FAILED
            self.messages[(c, item.index)] = item.error

    @property
    def errors(self) -> dict[int, str]:
        """The first failure message per cell, in sample order."""
        first: dict[int, str] = {}
        for (c, _), message in sorted(self.messages.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            first.setdefault(c, message)
        return first

    def finished(self) -> torch.Tensor:
        """[samples] bool: every cell of the sample is predicted or failed."""
        return (self.state != self.PENDING).all(0)

    def rows(self, indices: Sequence[int]) -> list[dict]:
        """One JSON-ready row per sample (for the partial log)."""
        out = []
        for i in indices:
            row = {"i": int(i), "state": self.state[:, i].tolist(), "top": self.top[:, i].tolist()}
            errors = {str(c): self.messages[(c, i)] for c in range(self.state.shape[0]) if (c, i) in self.messages}
            out.append({**row, "errors": errors} if errors else row)
        return out

    def load_rows(self, rows: Sequence[dict]) -> int:
        """Take in rows of finished samples; malformed ones (wrong shape or index) are ignored."""
        cells, samples, k = self.top.shape
        taken = 0
        for row in rows:
            try:
                i = int(row["i"])
                top = torch.tensor(row["top"], dtype=torch.int32)
                state = torch.tensor(row["state"], dtype=torch.int8)
                errors = {int(c): str(m) for c, m in row.get("errors", {}).items()}
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            if not 0 <= i < samples or top.shape != (cells, k) or state.shape != (cells,) or \
                    bool((state == self.PENDING).any()):
                continue
            self.top[:, i], self.state[:, i] = top, state
            self.messages.update({(c, i): message for c, message in errors.items()})
            taken += 1
        return taken

    def part(self, indices: Sequence[int]) -> dict:
        """These samples' predictions, to send to another rank (see ``merge``)."""
        wanted = set(indices)
        index = torch.tensor(sorted(wanted), dtype=torch.long)
        return {"index": index, "top": self.top[:, index], "state": self.state[:, index],
                "messages": {key: m for key, m in self.messages.items() if key[1] in wanted}}

    def merge(self, part: dict) -> None:
        index = part["index"]
        self.top[:, index], self.state[:, index] = part["top"], part["state"]
        self.messages.update(part["messages"])

    def accuracy(self, cell: int, labels: torch.Tensor, class_names: list[str]) -> Accuracy:
        counter = AccuracyCounter(len(class_names))
        predicted = self.state[cell] == self.PREDICTED
        counter.update_topk(self.top[cell][predicted], labels[predicted])
        counter.skipped = int((self.state[cell] == self.FAILED).sum())
        return counter.result(class_names)


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


@dataclass
class CellResults:
    accuracy: dict[Cell, Accuracy]
    errors: dict[Cell, str] = field(default_factory=dict)  # first failure message per cell
    resumed: int = 0  # samples taken from an interrupted earlier evaluation


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@torch.no_grad()
def predict_cells(
    model: nn.Module,
    source: Source,
    cells: Sequence[Cell],
    options: CorruptionOptions,
    class_names: list[str],
    device: torch.device,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
    partial_path: Path | None = None,
    partial_key: Any = None,
    save_every: float = 0.0,
    resume_from: Sequence[Path] = (),
    world: World | None = None,
) -> CellResults:
    """Accuracy of every cell, each sample loaded once and all its variants made in memory.

    With ``partial_path``, every finished sample's predictions are appended to that file (at
    most every ``save_every`` seconds; 0 = after each batch); a later call with the same
    cells, options, samples and ``partial_key`` resumes from it and from the files in
    ``resume_from`` (other ranks' logs), which are merged into ``partial_path`` and removed.

    Under DDP (``world`` defaults to the joined process group) call it from every rank: rank
    0 decides what is already done, each rank predicts its strided share of the rest, and all
    ranks return the same results. Each rank appends to its own ``partial_path``.
    """
    world = joined_world() if world is None else world
    model = bare_model(model)
    model.eval()
    cells = list(cells)
    k = min(5, len(class_names))
    store = PredictionStore(len(cells), len(source), k)
    key = fingerprint([dataclasses.astuple(c) for c in cells], dataclasses.asdict(options),
                      [source.sample_id(i) for i in range(len(source))], partial_key)
    log = PartialLog(partial_path, key) if partial_path else None
    resumed = 0
    if log is not None and world.is_main:
        resumed = _resume(store, log, resume_from)
    if world.is_distributed and log is not None:
        store, resumed = broadcast_object((store, resumed), world)
    if log is not None and not world.is_main:
        log.start([])
    done = store.finished()
    pending = [i for i in range(len(source)) if not bool(done[i])]
    mine = [pending[j] for j in shard_indices(len(pending), world)]
    stream = _VariantStream(source, cells, options, mine)
    loader = DataLoader(stream, batch_size=batch_size, num_workers=workers, collate_fn=_collate)
    labels = torch.tensor([source.label(i) for i in range(len(source))], dtype=torch.long)
    logged, unlogged = done.clone(), set()
    last_save = time.monotonic()

    def save() -> None:
        finished = [i for i in sorted(unlogged) if not logged[i] and bool((store.state[:, i] != store.PENDING).all())]
        log.append(store.rows(finished))
        logged[finished] = True
        unlogged.difference_update(finished)

    bar = tqdm(total=len(mine) * len(cells), desc=f"{len(cells)} variants", unit="view-set", leave=False,
               disable=None if progress and world.is_main else True)
    try:
        for views, cell_idx, indices, failed in loader:
            for item in failed:
                store.fail(item)
            if views is not None:
                probs = predict_views(model, views.to(device, non_blocking=True))
                store.put(cell_idx, indices, probs.topk(k, dim=-1).indices)
            bar.update(len(indices) + sum(len(cells) if f.cell < 0 else 1 for f in failed))
            if log is not None:
                unlogged.update(indices.tolist(), (f.index for f in failed))
                if time.monotonic() - last_save >= save_every:
                    save()
                    last_save = time.monotonic()
    finally:
        bar.close()
        if log is not None:
            save()
            log.close()
    if world.is_distributed:
        for part in gather_objects(store.part(mine), world):
            store.merge(part)
    return CellResults({cell: store.accuracy(c, labels, class_names) for c, cell in enumerate(cells)},
                       {cells[c]: msg for c, msg in store.errors.items()}, resumed=resumed)


def _resume(store: PredictionStore, log: PartialLog, others: Sequence[Path]) -> int:
    """Load every matching log into ``store``, rewrite ours with all of it, remove the others.

    Returns the number of samples taken over.
    """
    for path in [log.path, *others]:
        store.load_rows(PartialLog.read(path, log.fingerprint))
    finished = [i for i, f in enumerate(store.finished().tolist()) if f]
    log.start(store.rows(finished))
    for path in others:
        if Path(path) != log.path:
            Path(path).unlink(missing_ok=True)
    return len(finished)


# ----------------------------------------------------------------------------------------------
# datasets of a run (test part only: a generated set may hold no training videos)


@dataclass
class TestSet:
    dataset: VideoClipDataset
    classes: list[str]
    root: Path
    missing: int  # listed in the split files, absent on disk


def dataset_root(data_cfg) -> Path:
    """The folder video ids are relative to (the synthetic set lives in a cache by default)."""
    if data_cfg.root:
        return Path(data_cfg.root)
    from vidsparse.data.video.synthetic import default_root

    return default_root(data_cfg.synthetic)


def build_test_set(cfg, mean, std, views: tuple[int, int] | None, root: Path | None = None) -> TestSet:
    """The run's test split (of ``root`` instead of the configured root when given)."""
    from vidsparse.data.registry import get_dataset

    data = cfg.data
    if root is not None:
        data = dataclasses.replace(data, root=str(root), dataset=GENERATED_LAYOUT.get(data.dataset, data.dataset))
    _, test_list = get_dataset(data.dataset).lists(data)
    clips, crops = views or (data.test_clips, data.test_crops)
    spec = ClipSpec(data.clip_len, data.stride, clips, crops, data.single_frame)
    transform = ClipTransform(data.resize, data.crop, tuple(mean), tuple(std), data.hflip)
    dataset = VideoClipDataset(test_list.items, spec, transform, train=False, backend=data.backend)
    return TestSet(dataset, test_list.classes, dataset_root(data), len(test_list.missing))


def video_source(test: TestSet) -> VideoSource:
    ds = test.dataset
    return VideoSource(ds.items, test.root, ds.spec, ds.transform, ds.backend)


# ----------------------------------------------------------------------------------------------
# generated sets


@dataclass
class GeneratedCell:
    cell: Cell
    accuracy: Accuracy | None  # None: the cell is absent from the generated set
    missing_videos: int = 0
    reason: str = ""


def read_manifest(root: Path) -> dict[Cell, dict]:
    """``manifest.jsonl`` of a generated set: the settings each (corruption, severity) was made with."""
    path = Path(root) / "manifest.jsonl"
    settings: dict[Cell, dict] = {}
    if not path.is_file():
        return settings
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            cell = Cell(row["name"] if "name" in row else row["corruption"], int(row["severity"]))
        except (ValueError, KeyError, TypeError):
            continue
        settings.setdefault(cell, {k: row[k] for k in ("preset", "variant", "seed") if k in row})
    return settings


def evaluate_generated(
    model: nn.Module,
    cfg,
    mean,
    std,
    root: Path,
    cells: Sequence[Cell],
    class_names: list[str],
    views: tuple[int, int] | None,
    device: torch.device,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
    on_result: Callable[[GeneratedCell], None] | None = None,
) -> list[GeneratedCell]:
    """Evaluate each cell from ``root/<corruption>/<severity>/`` with the normal test reader."""
    results = []
    for cell in cells:
        cell_root = Path(root) / cell.corruption / str(cell.severity)
        if not cell_root.is_dir():
            result = GeneratedCell(cell, None, reason=f"{cell_root} does not exist")
        else:
            try:
                test = build_test_set(cfg, mean, std, views, root=cell_root)
            except UserError as err:
                result = GeneratedCell(cell, None, reason=str(err))
            else:
                if test.classes != class_names:
                    raise UserError(f"classes in {cell_root} differ from the run's classes; "
                                    "was the set generated from the run's dataset?")
                if len(test.dataset) == 0:
                    result = GeneratedCell(cell, None, test.missing, reason=f"no test video in {cell_root}")
                else:
                    acc = evaluate(model, test.dataset, class_names, device, batch_size, workers,
                                   progress=progress, desc=f"{cell.corruption} s{cell.severity}")
                    result = GeneratedCell(cell, acc, test.missing)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
