"""Evaluation steps both evaluators share: on the fly corruptions, Fourier curves, adversarial accuracy."""

from __future__ import annotations

from torch.utils.data import Subset

from vidsparse.core.distributed import barrier, gather_objects, shard_indices
from vidsparse.evaluation.accuracy import bare_model
from vidsparse.evaluation.attacks import adversarial_accuracy
from vidsparse.evaluation.cells import Cell, CorruptionOptions
from vidsparse.evaluation.context import Context, say, warn
from vidsparse.evaluation.engine import predict_cells
from vidsparse.evaluation.fourier import KINDS, default_radii, format_radius, fourier_curves
from vidsparse.evaluation.results import Setting
from vidsparse.run_dir import RunDir


def evaluate_on_the_fly(ctx: Context, source, todo: list[Cell], setting: Setting) -> None:
    """All pending cells in one pass over the samples, each decoded once.

    Finished samples are logged to the run's partial file as they complete, so an
    interrupted (even killed) evaluation resumes; the logs are removed once eval.json holds
    the results.
    """
    run_dir, shard = RunDir(ctx.request.run_dir), ctx.request.shard
    if todo:
        options = CorruptionOptions(setting.preset, setting.variant, setting.seed, setting.coherent)
        own = run_dir.partial_log(ctx.world.rank if shard is None else shard[0])
        others = [] if shard else [p for p in run_dir.partial_logs() if p != own]  # a shard reads only its own
        out = predict_cells(ctx.model, source, todo, options, ctx.classes, ctx.device, ctx.batch_size, ctx.workers,
                            ctx.progress, partial_path=own, partial_key=setting.key(clean=True), resume_from=others,
                            world=ctx.world, corrupt_on=ctx.corrupt_on, shard=shard)
        if shard is not None:  # its predictions stay in its log until the merge takes them
            say(f"shard {shard[0]}/{shard[1]}: predictions logged to {own}; when every shard is done, run the same "
                f"command without --shard to merge them into eval.json")
            return
        if out.resumed:
            say(f"resumed: {out.resumed} samples were already evaluated before an interruption")
        for cell in todo:
            noop = {} if cell.is_clean else {"noop_videos": out.noops.get(cell, 0)}
            ctx.record(cell, out.accuracy[cell], setting, out.errors.get(cell, ""), source="on-the-fly", **noop)
        barrier(ctx.world)  # eval.json holds every result before any log goes
    run_dir.partial_log(ctx.world.rank).unlink(missing_ok=True)
    if ctx.world.is_main:  # also the logs of a run killed after writing eval.json
        for path in run_dir.partial_logs():
            path.unlink(missing_ok=True)


def evaluate_fourier(ctx: Context, dataset, setting: Setting, size: int) -> None:
    """Radius-accuracy curves on the clean inputs (``size`` = model input side), into eval.json "fourier"."""
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


def merge_curves(parts: list[dict]) -> dict:
    """One set of radius-accuracy curves from the curves of disjoint shards (exact: hit counts add)."""
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
    spec = ctx.request.attack
    key = {**setting.key(clean=True), "seed": spec.seed}
    stored = ctx.results.data.setdefault("adversarial", {})
    previous = stored.get(spec.name, {}).get(spec.key(), {})
    if previous and all(previous.get(k) == v for k, v in key.items()):
        say(f"reusing the {spec.name} {spec.key()} result from {ctx.results.path}")
        return
    # Sharded across ranks; random starts are seeded per sample, so the numbers are one process's.
    result = adversarial_accuracy(bare_model(ctx.model), dataset, mean, std, spec, ctx.classes, ctx.device,
                                  ctx.batch_size, ctx.workers, ctx.progress, world=ctx.world)
    attacked = result.attacked
    if attacked.n == 0:
        warn(f"{spec.name}: no result (every sample was skipped)")
        return
    if attacked.skipped:
        warn(f"{spec.name}: {attacked.skipped} samples skipped")
    stored.setdefault(spec.name, {})[spec.key()] = {
        "top1": attacked.top1, "top5": attacked.top5, "n": attacked.n, "skipped": attacked.skipped,
        "clean_top1": result.clean.top1, "clean_top5": result.clean.top5, "eps": spec.eps,
        **({} if spec.name == "fgsm" else {"steps": spec.steps, "step_size": spec.step_size,
                                            "restarts": spec.restarts}),
        **key,
    }
    ctx.save()
