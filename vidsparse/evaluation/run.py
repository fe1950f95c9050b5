"""``vidsparse eval`` end to end: clean + corrupted accuracy, frequency curves, summary, files.

One function per dataset kind (``EVALUATORS``) does the measuring; this module decides what
still has to be measured (results in eval.json with the same settings are reused), keeps
eval.json current after every step, and writes the summary.

Under torchrun every rank runs all of this on its share of the samples and ends with the same
results; rank 0 alone decides what is pending (from its eval.json), writes files and speaks.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Subset

from vidsparse.evaluation import metrics
from vidsparse.evaluation.attacks import AttackSpec
from vidsparse.core.distributed import (World, barrier, broadcast_object, current_world, gather_objects, joined_world,
                                   shard_indices)
from vidsparse.errors import UserError
from vidsparse.evaluation.results import EvalFile, Setting, summary
from vidsparse.evaluation.accuracy import bare_model
from vidsparse.evaluation.engine import (
    CLEAN_CELL,
    Cell,
    CorruptionOptions,
    build_test_set,
    evaluate_generated,
    natural_preset,
    parse_severities,
    predict_cells,
    read_manifest,
    resolve_corruptions,
    video_source,
)

# Predictions of an unfinished on-the-fly evaluation (one log per rank under DDP).
PARTIAL_FILE = ".eval-partial.jsonl"
PARTIAL_GLOB = ".eval-partial*"


def partial_file(run_dir: Path, world: World) -> Path:
    name = PARTIAL_FILE if world.is_main else f".eval-partial.rank{world.rank}.jsonl"
    return Path(run_dir) / name


def _say(message: str) -> None:
    if current_world().is_main:
        print(message, file=sys.stderr)


def _warn(message: str) -> None:
    _say(f"warning: {message}")


@dataclass
class EvalRequest:
    run_dir: Path
    views: tuple[int, int] | None = None  # None = the run's test views
    checkpoint: str = "best"
    device: str = "auto"
    corruptions: str | None = None  # all | PRESET | FAMILY | NAME,... ; None = clean only
    severities: str | None = None  # "1-5" | "1,3,5"
    preset: str | None = None  # None = the run's natural preset
    variant: str = "fixed"
    seed: int = 0
    coherent: bool | None = None
    corrupted_root: Path | None = None  # a set made by 'vidsparse corrupt'; None = on the fly
    baseline: Path | None = None  # a run whose errors normalise CE
    fourier: bool = False
    radii: list[float] | None = None
    batch_size: int | None = None
    workers: int | None = None
    attack: AttackSpec | None = None  # adversarial accuracy besides the rest; None = no attack
    progress: bool = True


@dataclass
class Context:
    """What every evaluator gets: the loaded run and the decisions already made."""

    request: EvalRequest
    cfg: object
    model: torch.nn.Module
    state: dict
    device: torch.device
    classes: list[str]
    names: list[str]
    severities: list[int]
    preset: str
    results: EvalFile
    world: World = field(default_factory=World)
    missing: list[str] = field(default_factory=list)  # requested cells without a result

    @property
    def progress(self) -> bool:
        return self.request.progress and self.world.is_main

    @property
    def batch_size(self) -> int:
        return self.request.batch_size or self.cfg.train.eval_batch_size

    @property
    def workers(self) -> int:
        return self.cfg.data.workers if self.request.workers is None else self.request.workers

    def cells(self) -> list[Cell]:
        return [CLEAN_CELL] + [Cell(n, s) for n in self.names for s in self.severities]

    def setting(self, views: str) -> Setting:
        req = self.request
        return Setting(views, req.checkpoint, self.state.get("epoch"), self.preset, req.variant, req.seed,
                       req.coherent)

    def pending(self, setting: Setting) -> list[Cell]:
        """Drop results made with other settings; return the cells still to evaluate."""
        dropped = self.results.drop_stale(setting, corruption_settings=bool(self.names))
        if dropped:
            _warn(f"dropped {dropped} earlier results of {self.results.path} made with other settings "
                  f"(views, checkpoint, preset, variant or seed)")
        todo = [c for c in self.cells() if not self.results.has(c, setting)]
        reused = len(self.cells()) - len(todo)
        if reused:
            _say(f"reusing {reused} finished results from {self.results.path}")
        return todo

    def save(self, families: dict[str, str] | None = None) -> None:
        """Rewrite eval.json and eval.csv (rank 0 only: every rank holds the same results)."""
        if self.world.is_main:
            self.results.write(families)

    def record(self, cell: Cell, acc, setting: Setting, error: str = "", **extra) -> None:
        """Store one cell's accuracy (or report it missing) and rewrite eval.json."""
        label = "clean" if cell.is_clean else f"{cell.corruption} severity {cell.severity}"
        if acc is None or acc.n == 0:
            self.missing.append("clean" if cell.is_clean else f"{cell.corruption}/{cell.severity}")
            _warn(f"{label}: no result" + (f" ({error})" if error else ""))
            return
        if acc.skipped:
            _warn(f"{label}: {acc.skipped} samples skipped" + (f" (first error: {error})" if error else ""))
        self.results.put(cell, acc, setting, **extra)
        self.save()


def run_eval(request: EvalRequest) -> EvalFile:
    from vidsparse.data.registry import get_dataset
    from vidsparse.evaluation.accuracy import load_run_model
    from vidsparse.training.loop import resolve_device

    if (request.batch_size is not None and request.batch_size < 1) or (request.workers or 0) < 0:
        raise UserError("--batch-size must be >= 1 and --workers >= 0")
    device = resolve_device(request.device)
    cfg, model, state = load_run_model(request.run_dir, request.checkpoint, device)
    kind = get_dataset(cfg.data.dataset).kind
    preset = request.preset or natural_preset(cfg.data.dataset, kind)
    names, preset = resolve_corruptions(request.corruptions, preset)
    severities = parse_severities(request.severities) if names else []
    if request.corrupted_root is not None and not Path(request.corrupted_root).is_dir():
        raise UserError(f"--corrupted-root {request.corrupted_root} does not exist; make it with 'vidsparse corrupt'")
    if request.baseline is not None:
        _check_baseline(load_baseline(request.baseline), names, severities)
    world = joined_world()
    results = EvalFile(request.run_dir)
    results.data = broadcast_object(results.data, world)  # rank 0's view of what is finished
    ctx = Context(request, cfg, model, state, device, list(state.get("classes") or []), names, severities,
                  preset, results, world)
    if kind not in EVALUATORS:
        raise UserError(f"no evaluator for datasets of kind {kind!r}; valid: {', '.join(EVALUATORS)}")
    EVALUATORS[kind](ctx)
    families = family_map(ctx.results.corruptions, ctx.preset)
    ctx.results.data["summary"] = _summary(ctx, families)
    ctx.save(families)
    return ctx.results


# ----------------------------------------------------------------------------------------------
# video runs


def evaluate_video(ctx: Context) -> None:
    from vidsparse.models import get_model_entry

    req, cfg = ctx.request, ctx.cfg
    spec = get_model_entry(cfg.model.name).input
    test = build_test_set(cfg, spec.mean, spec.std, req.views)
    if ctx.classes and test.classes != ctx.classes:
        raise UserError(f"the test set's classes differ from those the run was trained on ({cfg.data.dataset})")
    ctx.classes = ctx.classes or test.classes
    if test.missing:
        _warn(f"{test.missing} test videos listed in the split files are missing on disk (skipped)")
    ds = test.dataset
    setting = ctx.setting(f"{ds.spec.num_clips}x{ds.spec.num_crops}")
    if req.corrupted_root is not None:
        setting = _manifest_setting(Path(req.corrupted_root), setting)
    todo = ctx.pending(setting)
    if req.corrupted_root is None:
        evaluate_on_the_fly(ctx, video_source(test), todo, setting)
    else:
        _from_generated(ctx, test, todo, setting)
    if req.fourier:
        evaluate_fourier(ctx, ds, setting, cfg.data.crop)
    if req.attack is not None:
        evaluate_adversarial(ctx, ds, setting, ds.transform.mean, ds.transform.std)


def _manifest_setting(root: Path, setting: Setting) -> Setting:
    """A generated set was made with the seed/variant in its manifest: record those."""
    made = {json.dumps(v, sort_keys=True) for v in read_manifest(root).values()}
    if len(made) != 1:
        return setting
    values = json.loads(made.pop())
    changed = {k: values[k] for k in ("preset", "variant", "seed") if k in values}
    differ = [f"{k} {v}" for k, v in changed.items() if getattr(setting, k) != v]
    if differ:
        _warn(f"{root} was made with {', '.join(differ)} (manifest.jsonl); its results are recorded with those")
    return Setting(**{**setting.__dict__, **changed})


def evaluate_on_the_fly(ctx: Context, source, todo: list[Cell], setting: Setting) -> None:
    """All pending cells in one pass over the samples, each decoded once.

    Finished samples are logged to the run's partial file as they complete, so an
    interrupted (even killed) evaluation resumes; the logs are removed once eval.json holds
    the results.
    """
    run_dir = Path(ctx.request.run_dir)
    if todo:
        options = CorruptionOptions(setting.preset, setting.variant, setting.seed, setting.coherent)
        own = partial_file(run_dir, ctx.world)
        others = sorted(p for p in run_dir.glob(PARTIAL_GLOB) if p != own)
        out = predict_cells(ctx.model, source, todo, options, ctx.classes, ctx.device, ctx.batch_size, ctx.workers,
                            ctx.progress, partial_path=own, partial_key=setting.key(clean=True), resume_from=others,
                            world=ctx.world)
        if out.resumed:
            _say(f"resumed: {out.resumed} samples were already evaluated before an interruption")
        for cell in todo:
            ctx.record(cell, out.accuracy[cell], setting, out.errors.get(cell, ""), source="on-the-fly")
        barrier(ctx.world)  # eval.json holds every result before any log goes
    partial_file(run_dir, ctx.world).unlink(missing_ok=True)
    if ctx.world.is_main:  # also the logs of a run killed after writing eval.json
        for path in run_dir.glob(PARTIAL_GLOB):
            path.unlink(missing_ok=True)


def _from_generated(ctx: Context, test, todo: list[Cell], setting: Setting) -> None:
    from vidsparse.evaluation.accuracy import evaluate

    req = ctx.request
    if CLEAN_CELL in todo:
        acc = evaluate(ctx.model, test.dataset, ctx.classes, ctx.device, ctx.batch_size, ctx.workers,
                       progress=ctx.progress, desc="clean", world=ctx.world)
        ctx.record(CLEAN_CELL, acc, setting)
    root = Path(req.corrupted_root)

    def store(result) -> None:
        ctx.record(result.cell, result.accuracy, setting, result.reason, source=str(root),
                   missing_videos=result.missing_videos)
        if result.accuracy is not None and result.missing_videos:
            _warn(f"{result.cell.corruption} severity {result.cell.severity}: {result.missing_videos} videos "
                  f"absent from the generated set (evaluated on the rest)")

    spec = test.dataset.transform
    evaluate_generated(ctx.model, ctx.cfg, spec.mean, spec.std, root, [c for c in todo if not c.is_clean],
                       ctx.classes, req.views, ctx.device, ctx.batch_size, ctx.workers, ctx.progress, store)


def evaluate_fourier(ctx: Context, dataset, setting: Setting, size: int) -> None:
    """Radius-accuracy curves on the clean inputs (``size`` = model input side), plus fourier.png."""
    from vidsparse.reporting import plots
    from vidsparse.evaluation.fourier import default_radii, format_radius, fourier_curves

    req = ctx.request
    radii = req.radii or default_radii(size)
    key = {**setting.key(clean=True), "radii": [format_radius(r) for r in radii]}
    previous = ctx.results.data.get("fourier", {})
    if not all(previous.get(k) == v for k, v in key.items()):
        shard = Subset(dataset, shard_indices(len(dataset), ctx.world)) if ctx.world.is_distributed else dataset
        curves = fourier_curves(ctx.model, shard, len(ctx.classes), ctx.device, radii, ctx.batch_size,
                                ctx.workers, ctx.progress)
        ctx.results.data["fourier"] = {**merge_curves(gather_objects(curves, ctx.world)), **key}
        ctx.save()
    if ctx.world.is_main:
        run_name = Path(req.run_dir).name
        plots.radius_curves({run_name: ctx.results.data["fourier"]}, Path(req.run_dir) / "fourier.png",
                            title=f"{run_name}: accuracy under low-/high-pass filtering")


def merge_curves(parts: list[dict]) -> dict:
    """One set of radius-accuracy curves from the curves of disjoint shards (exact: hit counts add)."""
    from vidsparse.evaluation.fourier import KINDS

    if len(parts) == 1:
        return parts[0]
    n = sum(p["n"] for p in parts)
    merged = {kind: {r: sum(round(p[kind][r] * p["n"]) for p in parts) / max(n, 1) for r in parts[0][kind]}
              for kind in KINDS}
    return {**merged, "n": n, "skipped": sum(p["skipped"] for p in parts)}


def evaluate_adversarial(ctx: Context, dataset, setting: Setting, mean, std) -> None:
    """Clean vs attacked accuracy into eval.json "adversarial" -> attack -> AttackSpec.key().

    An entry is reused when views, checkpoint, epoch and seed match (entries made with another
    views/checkpoint/epoch were already dropped by ``ctx.pending``).
    """
    from vidsparse.evaluation.attacks import adversarial_accuracy

    spec = ctx.request.attack
    key = {**setting.key(clean=True), "seed": spec.seed}
    stored = ctx.results.data.setdefault("adversarial", {})
    previous = stored.get(spec.name, {}).get(spec.key(), {})
    if previous and all(previous.get(k) == v for k, v in key.items()):
        _say(f"reusing the {spec.name} {spec.key()} result from {ctx.results.path}")
        return
    # Not sharded: the attack's random starts come from one generator in sample order, so every
    # rank attacks the whole set (same numbers as one process) and rank 0 writes them.
    result = adversarial_accuracy(bare_model(ctx.model), dataset, mean, std, spec, ctx.classes, ctx.device,
                                  ctx.batch_size, ctx.workers, ctx.progress)
    attacked = result.attacked
    if attacked.n == 0:
        _warn(f"{spec.name}: no result (every sample was skipped)")
        return
    if attacked.skipped:
        _warn(f"{spec.name}: {attacked.skipped} samples skipped")
    stored.setdefault(spec.name, {})[spec.key()] = {
        "top1": attacked.top1, "top5": attacked.top5, "n": attacked.n, "skipped": attacked.skipped,
        "clean_top1": result.clean.top1, "clean_top5": result.clean.top5, "eps": spec.eps,
        **({} if spec.name == "fgsm" else {"steps": spec.steps, "step_size": spec.step_size,
                                            "restarts": spec.restarts}),
        **key,
    }
    ctx.save()


# ----------------------------------------------------------------------------------------------
# summary


def family_map(corruption_results: dict, preset: str = "") -> dict[str, str]:
    """Corruption -> family, in the preset each result was made with (else ``preset``)."""
    import corruptions

    families = {}
    for name, severities in corruption_results.items():
        made_with = next((e.get("preset") for e in severities.values() if e.get("preset")), preset) or None
        try:
            families[name] = corruptions.info(name, made_with)["family"]
        except corruptions.CorruptionError:
            families[name] = "other"  # e.g. a -C set with a corruption outside the preset
    return families


def load_baseline(run_dir: Path) -> metrics.Baseline:
    """CE normaliser from another evaluated run (e.g. the dense model)."""
    path = Path(run_dir) / "eval.json"
    if not path.is_file():
        raise UserError(f"baseline run {run_dir} has no eval.json; evaluate it first with 'vidsparse eval --run {run_dir}'")
    data = json.loads(path.read_text())
    clean = data.get("clean", {}).get("top1")
    grid = {n: {s: float(e["top1"]) for s, e in sev.items()} for n, sev in data.get("corruptions", {}).items() if sev}
    if clean is None or not grid:
        raise UserError(f"baseline run {run_dir} has no corruption results; evaluate it with "
                        f"'vidsparse eval --run {run_dir} --corruptions ...' first")
    return metrics.Baseline.from_accuracy(Path(run_dir).name, clean, grid)


def _check_baseline(baseline: metrics.Baseline, names: list[str], severities: list[int]) -> None:
    """Fail before evaluating when the baseline shares none of the requested cells."""
    wanted = {(n, str(s)) for n in names for s in severities}
    have = {(n, s) for n, sev in baseline.errors.items() for s in sev}
    if wanted and not wanted & have:
        raise UserError(f"baseline {baseline.name} was evaluated on different corruptions than requested "
                        f"(none shared); evaluate both with the same --corruptions and --severities")


def _baseline(ctx: Context) -> tuple[metrics.Baseline | None, list[str] | None]:
    if ctx.request.baseline is not None:
        return load_baseline(ctx.request.baseline), None
    if ctx.preset == "imagenet-c":
        return metrics.alexnet_baseline(), list(metrics.IMAGENET_C_COMMON)
    return None, None


def _summary(ctx: Context, families: dict[str, str]) -> dict:
    data = ctx.results.data
    baseline, ce_names = _baseline(ctx)
    if baseline is not None and data["corruptions"]:
        cells = {(n, s) for n, sev in data["corruptions"].items() for s in sev}
        shared = {(n, s) for n, s in cells if s in baseline.errors.get(n, {})}
        if ce_names is not None:
            shared = {(n, s) for n, s in shared if n in ce_names}
        if not shared and ctx.request.baseline is not None:
            raise UserError(f"baseline {baseline.name} was evaluated on different corruptions than this run "
                            f"(none shared); evaluate both with the same --corruptions and --severities")
        if not shared:
            _warn(f"no corruption of the {baseline.name} table was evaluated: CE/mCE not computed")
            baseline = None
        else:
            if shared != cells:
                _warn(f"baseline {baseline.name} lacks {len(cells - shared)} of this run's corruption x severity "
                      f"cells; CE uses the {len(shared)} shared ones")
            kept = {n: {s: e for s, e in sev.items() if (n, s) in shared} for n, sev in baseline.errors.items()}
            baseline = metrics.Baseline(baseline.name, baseline.clean_error, {n: sev for n, sev in kept.items() if sev})
    out = summary(data, families, baseline if data.get("clean") else None, ce_names)
    if out:
        made_with = {e.get("preset") for sev in data["corruptions"].values() for e in sev.values()}
        out.update(preset=made_with.pop() if len(made_with) == 1 else ctx.preset, missing=ctx.missing)
    return out


EVALUATORS: dict[str, Callable[[Context], None]] = {"video": evaluate_video}


def _image_evaluator(ctx: Context) -> None:
    from vidsparse.evaluation.image import evaluate_image_run

    evaluate_image_run(ctx)


EVALUATORS["image"] = _image_evaluator
