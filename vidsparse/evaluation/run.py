"""``vidsparse eval`` end to end: clean + corrupted accuracy, frequency curves, summary, files.

One evaluator per dataset kind (``EVALUATORS``: ``video.evaluate_video``,
``image.evaluate_image_run``) does the measuring; this module loads the run, resolves what to
measure, lets the evaluator reuse the results in eval.json made with the same settings, and
writes the summary. Every step keeps eval.json current.

Under torchrun every rank runs all of this on its share of the samples and ends with the same
results; rank 0 alone decides what is pending (from its eval.json), writes files and speaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import corruptions
from corruptions.selection import parse_severities, select
from vidsparse.core.device import resolve_device
from vidsparse.core.distributed import broadcast_object, joined_world, launched_by_torchrun
from vidsparse.data.registry import get_dataset
from vidsparse.data.video.decoded_cache import decoded_videos_cached
from vidsparse.errors import UserError
from vidsparse.evaluation import metrics
from vidsparse.evaluation.context import Context, EvalRequest, load_run_model, warn
from vidsparse.evaluation.image import evaluate_image_run
from vidsparse.evaluation.results import EvalFile, summary
from vidsparse.evaluation.video import evaluate_video
from vidsparse.run_dir import RunDir

EVALUATORS: dict[str, Callable[[Context], None]] = {"video": evaluate_video, "image": evaluate_image_run}


def run_eval(request: EvalRequest) -> EvalFile:
    """Evaluate a run as ``request`` says; eval.json and eval.csv are rewritten after every step."""
    if (request.batch_size is not None and request.batch_size < 1) or (request.workers or 0) < 0:
        raise UserError("--batch-size must be >= 1 and --workers >= 0")
    device = resolve_device(request.device)
    cfg, model, state = load_run_model(request.run_dir, request.checkpoint, device)
    spec = get_dataset(cfg.data.dataset)
    kind = spec.kind
    selected, preset = select(request.corruptions, request.preset or spec.default_preset, one_preset=True)
    names = [s.name for s in selected]
    severities = parse_severities(request.severities) if names else []
    if request.corrupted_root is not None and not Path(request.corrupted_root).is_dir():
        raise UserError(f"--corrupted-root {request.corrupted_root} does not exist; make it with 'vidsparse corrupt'")
    if request.baseline is not None:
        _check_baseline(load_baseline(request.baseline), names, severities)
    if request.shard is not None:
        _check_shard(request)
    world = joined_world()
    results = EvalFile(request.run_dir)
    results.data = broadcast_object(results.data, world)  # rank 0's view of what is finished
    checkpoint, _ = RunDir(request.run_dir).find_checkpoint(request.checkpoint)  # the one load_run_model loaded
    ctx = Context(request, cfg, model, state, device, list(state.get("classes") or []), names, severities,
                  preset, results, world, checkpoint=checkpoint)
    if kind not in EVALUATORS:
        raise UserError(f"no evaluator for datasets of kind {kind!r}; valid: {', '.join(EVALUATORS)}")
    with decoded_videos_cached(cfg.data.decode_cache_mb << 20):  # the clean frames of every cell's clips
        EVALUATORS[kind](ctx)
    if request.shard is not None:
        return ctx.results  # a share of the samples: no accuracy to record until the merge
    families = family_map(ctx.results.corruptions, ctx.preset)
    ctx.results.data["summary"] = _summary(ctx, families)
    ctx.save(families)
    return ctx.results


def _check_shard(request: EvalRequest) -> None:
    """``--shard`` splits the on-the-fly evaluation among array tasks; the rest is not split."""
    if launched_by_torchrun():
        raise UserError("--shard is for separate array tasks; under torchrun the ranks already split the samples")
    unsplit = [flag for flag, used in (("--corrupted-root", request.corrupted_root is not None),
                                       ("--fourier", request.fourier), ("--attack", request.attack is not None)) if used]
    if unsplit:
        raise UserError(f"--shard splits the on-the-fly evaluation only; run {', '.join(unsplit)} without --shard "
                        "(e.g. in the merging run)")


def family_map(corruption_results: dict, preset: str = "") -> dict[str, str]:
    """Corruption -> family, in the preset each result was made with (else ``preset``)."""
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
    data = RunDir(run_dir).read_eval()
    if data is None:
        raise UserError(f"baseline run {run_dir} has no eval.json; evaluate it first with 'vidsparse eval --run {run_dir}'")
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
            warn(f"no corruption of the {baseline.name} table was evaluated: CE/mCE not computed")
            baseline = None
        else:
            if shared != cells:
                warn(f"baseline {baseline.name} lacks {len(cells - shared)} of this run's corruption x severity "
                      f"cells; CE uses the {len(shared)} shared ones")
            kept = {n: {s: e for s, e in sev.items() if (n, s) in shared} for n, sev in baseline.errors.items()}
            baseline = metrics.Baseline(baseline.name, baseline.clean_error, {n: sev for n, sev in kept.items() if sev})
    out = summary(data, families, baseline if data.get("clean") else None, ce_names)
    if out:
        made_with = {e.get("preset") for sev in data["corruptions"].values() for e in sev.values()}
        out.update(preset=made_with.pop() if len(made_with) == 1 else ctx.preset, missing=ctx.missing)
    return out
