"""``vidsparse export``: a trained (sparse) run as a folder anyone can share and load safely.

    model.safetensors   weights; masked ones as kept values + bit-packed mask (``sparse.packing``)
    config.yaml         the run's resolved configuration (rebuilds the network)
    eval.json           the run's results as measured
    README.md           a model card: Hugging Face YAML front matter, then method, sparsity,
                        per-layer density, the accuracy table and the commands that reproduce it

``vidsparse eval --weights DIR`` evaluates the folder itself; its results replace the copied
eval.json (they are made with the "exported" checkpoint, a different setting), so a user can
check that the shared numbers are the model's.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from vidsparse.config import load_run_config
from vidsparse.core.checkpoint import load_checkpoint
from vidsparse.core.io import atomic_write_text
from vidsparse.errors import UserError
from vidsparse.evaluation.results import severity_order
from vidsparse.models import get_model_entry
from vidsparse.run_dir import RunDir
from vidsparse.sparse.packing import PackedSize, save_packed


@dataclass
class ExportOutput:
    folder: Path
    weights: Path
    size: PackedSize
    density: float | None  # masked weights kept; None for a dense run


def export_run(run_dir: str | Path, out: str | Path, checkpoint: str = "best") -> ExportOutput:
    """Write the four files of an export folder from ``run_dir`` (``best`` falls back to ``last``)."""
    run, folder = RunDir(run_dir), Path(out)
    name, path = run.find_checkpoint(checkpoint)
    cfg = load_run_config(run.path)
    if folder.resolve() == run.path.resolve():
        raise UserError("--out must be a new folder, not the run directory itself")
    state = load_checkpoint(path)
    # a sparse target whose layer is fully dense (density 1 under ERK, or kept dense) has mask None
    targets = {k.removeprefix("module."): v for k, v in ((state.get("sparsifier") or {}).get("masks") or {}).items()}
    masks = {k: v for k, v in targets.items() if v is not None}
    model_state = {k.removeprefix("module."): v for k, v in state["model"].items()}
    folder.mkdir(parents=True, exist_ok=True)
    out_files = RunDir(folder)
    info = {"classes": list(state.get("classes") or []), "epoch": state.get("epoch"), "checkpoint": name,
            "method": cfg.sparse.method, "sparsity": cfg.sparse.sparsity}
    size = save_packed(out_files.exported, model_state, masks, info)
    shutil.copyfile(run.config, out_files.config)
    results = run.read_eval() or {}
    if results:
        shutil.copyfile(run.eval_json, out_files.eval_json)
    layers = [(k, list(model_state[k].shape), model_state[k].numel(), 1.0 if m is None else float(m.float().mean()))
              for k, m in targets.items() if k in model_state]
    kept = sum(n * d for _, _, n, d in layers)
    total = sum(n for _, _, n, _ in layers)
    density = kept / total if total else None
    atomic_write_text(out_files.model_card, model_card(cfg, results, layers, density, size, folder.name))
    return ExportOutput(folder, out_files.exported, size, density)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _front_matter(cfg, results: dict, density: float | None) -> dict:
    """Hugging Face model-card metadata: tags, datasets, metrics and a model-index entry."""
    entry = get_model_entry(cfg.model.name)
    task = "video-classification" if entry.is_video else "image-classification"
    metrics = []
    clean = (results.get("clean") or {}).get("top1")
    if clean is not None:
        metrics.append({"type": "accuracy", "name": "clean top-1", "value": round(100 * clean, 2)})
    summary = results.get("summary") or {}
    for key, label in (("mean_robust_top1", "mean corrupted top-1"), ("mpc", "mPC")):
        if summary.get(key) is not None:
            metrics.append({"type": "accuracy", "name": label, "value": round(100 * summary[key], 2)})
    tags = ["vidsparse", "sparse", f"sparse-{cfg.sparse.method}", cfg.model.name, task, "corruption-robustness"]
    card = {"library_name": "vidsparse", "license": "apache-2.0", "tags": tags, "datasets": [cfg.data.dataset],
            "metrics": ["accuracy"], "pipeline_tag": task}
    if metrics:
        card["model-index"] = [{"name": f"{cfg.model.name}-{cfg.sparse.method}", "results": [
            {"task": {"type": task}, "dataset": {"name": cfg.data.dataset, "type": cfg.data.dataset},
             "metrics": metrics}]}]
    return card


def _accuracy_table(results: dict) -> list[str]:
    clean = results.get("clean") or {}
    grid = results.get("corruptions") or {}
    if not clean and not grid:
        return ["Not evaluated yet: `vidsparse eval --weights DIR --corruptions all` measures it."]
    lines = [f"Clean top-1: **{_pct(clean.get('top1'))}%** (top-5 {_pct(clean.get('top5'))}%, "
             f"{clean.get('n', '-')} samples, views {clean.get('views', '-')})."]
    if grid:
        sevs = severity_order({s for sev in grid.values() for s in sev})
        lines += ["", "| corruption | " + " | ".join(f"s{s}" for s in sevs) + " | mean |",
                  "|---|" + "---:|" * (len(sevs) + 1)]
        for name, by_sev in grid.items():
            values = [by_sev.get(s, {}).get("top1") for s in sevs]
            present = [v for v in values if v is not None]
            lines.append(f"| {name} | " + " | ".join(_pct(v) for v in values)
                         + f" | {_pct(sum(present) / len(present) if present else None)} |")
        summary = results.get("summary") or {}
        lines += ["", f"Mean corrupted top-1 {_pct(summary.get('mean_robust_top1'))}%, mPC {_pct(summary.get('mpc'))}%"
                  + (f", rPC {summary['rpc']:.3f}" if summary.get("rpc") is not None else "") + "."]
    return lines


def _commands(cfg, results: dict, folder: str) -> list[str]:
    grid = results.get("corruptions") or {}
    sevs = severity_order({s for sev in grid.values() for s in sev})
    corr = f" --corruptions {','.join(grid)} --severities {','.join(sevs)}" if grid else ""
    return ["```bash", "# train the same run from its resolved configuration",
            f"vidsparse train --config config.yaml --data-root DATA_ROOT --out RUN_DIR",
            f"vidsparse eval --run RUN_DIR{corr}",
            "# or evaluate these weights directly (results go to this folder's eval.json)",
            f"vidsparse eval --weights {folder}{corr}", "```"]


def model_card(cfg, results: dict, layers: list[tuple[str, list[int], int, float]], density: float | None,
               size: PackedSize, folder: str) -> str:
    """README.md of an export folder (why each section: what a user needs before downloading)."""
    front = yaml.safe_dump(_front_matter(cfg, results, density), sort_keys=False)
    lines = ["---", front.rstrip(), "---", "", f"# {cfg.model.name} · {cfg.sparse.method} · sparsity {cfg.sparse.sparsity:g}",
             "", f"A {cfg.model.name} trained on **{cfg.data.dataset}** with the **{cfg.sparse.method}** method of "
             f"vidsparse at target sparsity {cfg.sparse.sparsity:g} "
             f"({cfg.sparse.distribution} layer-wise distribution), {cfg.train.epochs} epoch(s).", "",
             "## Sparsity", ""]
    if layers:
        lines += [f"{len(layers)} sparse-target layers, overall density **{density:.4f}** "
                  f"(sparsity {1 - density:.4f}).", "", "| layer | shape | weights | density |", "|---|---|---:|---:|"]
        lines += [f"| {name} | {'x'.join(map(str, shape))} | {n} | {d:.4f} |" for name, shape, n, d in layers]
    else:
        lines.append("Dense: no masks.")
    lines += ["", f"`model.safetensors` stores each masked weight as its kept values plus a bit-packed mask: "
              f"{size.packed:,} bytes of tensors against {size.dense:,} dense ({size.ratio:.3f}x).", "",
              "## Accuracy", "", *_accuracy_table(results), "", "## Reproduce", "", *_commands(cfg, results, folder), "",
              "## Load", "", "```python", "from vidsparse.sparse.packing import load_packed",
              "state, masks, info = load_packed('model.safetensors')  # no pickle: safe to load",
              "```", ""]
    return "\n".join(lines)


def describe(output: ExportOutput) -> str:
    """One line for the terminal: what was written and the size against dense."""
    density = "dense" if output.density is None else f"density {output.density:.4f}"
    return (f"wrote {output.folder} ({density}); model.safetensors tensors {output.size.packed:,} bytes "
            f"vs {output.size.dense:,} dense ({output.size.ratio:.3f}x); file {output.weights.stat().st_size:,} bytes")

