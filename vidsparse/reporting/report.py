"""Cross-run robustness report: group runs, aggregate seeds, compare with dense, tables + plots.

Runs are grouped by (dataset, model, method, sparsity) from their ``config.yaml``; seeds of a
group are averaged (mean and sample standard deviation). Each group is compared with the
dense group of the same dataset and model. Robust accuracy is the mean top-1 over the
corruption x severity cells that *every* evaluated run of that dataset and model has, so
runs evaluated on different corruption sets are still compared on equal terms.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Sequence

from vidsparse.core.io import atomic_write_text
from vidsparse.core.tables import format_table
from vidsparse.errors import UserError
from vidsparse.reporting import plots
from vidsparse.reporting.groups import Delta, Group, Stat, aggregate, load_run, warn

PLOTS = {
    "robust_vs_sparsity": "robust_vs_sparsity.png",
    "corruption_bars": "corruption_bars.png",
    "delta_heatmap": "delta_heatmap.png",
    "corruption_delta": "corruption_delta.png",
    "fourier": "fourier.png",
}


# ----------------------------------------------------------------------------------------------
# one run


# ----------------------------------------------------------------------------------------------
# aggregation


# ----------------------------------------------------------------------------------------------
# tables


def _pct(stat: Stat | None) -> str:
    if stat is None:
        return "-"
    return f"{100 * stat.mean:.2f}" + (f" ± {100 * stat.std:.2f}" if stat.std is not None else "")


def _delta(delta: Delta | None) -> str:
    if delta is None:
        return "-"
    return f"{100 * delta.value:+.2f}" + (f" ± {100 * delta.spread:.2f}" if delta.spread is not None else "")


def _ratio(stat: Stat | None) -> str:
    return "-" if stat is None else f"{stat.mean:.3f}"


def summary_rows(groups: Sequence[Group]) -> tuple[list[str], list[list[str]]]:
    families = sorted({f for g in groups for f in g.families})
    attacks = sorted({a for g in groups for a in g.adversarial})
    headers = ["dataset", "model", "method", "sparsity", "seeds", "clean top-1", "robust top-1",
               "Δ robust vs dense", "Δ clean vs dense", "train FLOPs vs dense"] + [f"{f} top-1" for f in families]
    headers += [f"adversarial top-1 ({a})" for a in attacks]
    rows = []
    for g in groups:
        rows.append([g.key.dataset, g.key.model, g.key.method, f"{g.key.sparsity:g}", len(g.runs),
                     _pct(g.clean), _pct(g.robust), _delta(g.delta_robust), _delta(g.delta_clean),
                     _ratio(g.flops)] + [_pct(g.families.get(f)) for f in families]
                    + [_pct(g.adversarial.get(a)) for a in attacks])
    return headers, rows


def corruption_rows(groups: Sequence[Group]) -> tuple[list[str], list[list[str]]]:
    headers = ["corruption"] + [g.key.label for g in groups]
    names = sorted({c for g in groups for c in g.corruptions})
    return headers, [[c] + [_pct(g.corruptions.get(c)) for g in groups] for c in names]


def csv_text(groups: Sequence[Group]) -> str:
    """Machine-readable: fractions, mean and std in separate columns (empty = not available)."""
    families = sorted({f for g in groups for f in g.families})
    fields = ["dataset", "model", "method", "sparsity", "runs", "seeds",
              "clean_top1_mean", "clean_top1_std", "robust_top1_mean", "robust_top1_std",
              "delta_robust_top1", "delta_robust_top1_spread", "delta_clean_top1", "delta_clean_top1_spread",
              "train_flops_ratio"] + [f"{f}_{part}" for f in families for part in ("mean", "std")]
    attacks = sorted({a for g in groups for a in g.adversarial})
    fields += [f"adversarial_top1_{part} ({a})" for a in attacks for part in ("mean", "std")]

    def num(value: float | None) -> str:
        return "" if value is None else f"{value:.6g}"

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for g in groups:
        row = [g.key.dataset, g.key.model, g.key.method, f"{g.key.sparsity:g}", len(g.runs),
               " ".join(map(str, g.seeds))]
        for stat in (g.clean, g.robust):
            row += [num(stat and stat.mean), num(stat and stat.std)]
        for delta in (g.delta_robust, g.delta_clean):
            row += [num(delta and delta.value), num(delta and delta.spread)]
        row.append(num(g.flops and g.flops.mean))
        for stat in [g.families.get(f) for f in families] + [g.adversarial.get(a) for a in attacks]:
            row += [num(stat and stat.mean), num(stat and stat.std)]
        writer.writerow(row)
    return out.getvalue()


# ----------------------------------------------------------------------------------------------
# plots


def _settings(groups: Sequence[Group]) -> dict[tuple[str, str], list[Group]]:
    out: dict[tuple[str, str], list[Group]] = {}
    for g in groups:
        out.setdefault(g.key.setting, []).append(g)
    return out


def _title(setting: tuple[str, str]) -> str:
    return f"{setting[0]} / {setting[1]}"


MAX_HEATMAP_PANELS = 12


def _heatmap_groups(groups: Sequence[Group], dense: Group, settings: int) -> list[Group]:
    """The groups that get a corruption x severity panel: all of them, or only each method's
    highest sparsity when a big sweep would make the figure unreadable (the per-corruption
    matrix still shows every group)."""
    candidates = [g for g in groups if g is not dense and g.cells]
    if len(candidates) * settings <= MAX_HEATMAP_PANELS:
        return candidates
    highest: dict[str, Group] = {}
    for g in candidates:
        if g.key.method not in highest or g.key.sparsity > highest[g.key.method].key.sparsity:
            highest[g.key.method] = g
    return list(highest.values())


def corruption_delta_panels(settings: dict[tuple[str, str], list[Group]]) -> dict[str, dict]:
    """Per setting: corruptions x (method, sparsity) differences to dense, the study's overview plot."""
    panels = {}
    for setting, gs in settings.items():
        dense = next((g for g in gs if g.key.method == "dense" and g.corruptions), None)
        others = sorted((g for g in gs if g is not dense and g.corruptions),
                        key=lambda g: (g.key.method, g.key.sparsity))
        if dense is None or not others:
            continue
        names = sorted(dense.corruptions)
        panels[_title(setting)] = {
            "corruptions": names, "columns": [g.key.label for g in others],
            "values": [[g.corruptions[c].mean - dense.corruptions[c].mean if c in g.corruptions else None
                        for g in others] for c in names]}
    return panels


def make_plots(groups: Sequence[Group], out: Path) -> dict[str, Path]:
    made: dict[str, Path] = {}
    settings = _settings(groups)
    evaluated = {s: gs for s, gs in settings.items() if any(g.robust for g in gs)}
    if evaluated:
        panels = {}
        for setting, gs in evaluated.items():
            methods: dict[str, list] = {}
            for g in gs:
                if g.key.method != "dense" and g.robust is not None:
                    methods.setdefault(g.key.method, []).append((g.key.sparsity, g.robust.mean, g.robust.std))
            dense = next((g.robust.pair() for g in gs if g.key.method == "dense" and g.robust), None)
            panels[_title(setting)] = {"methods": methods, "dense": dense}
        made["robust_vs_sparsity"] = plots.robust_vs_sparsity(panels, out / PLOTS["robust_vs_sparsity"])

        bars = {}
        for setting, gs in evaluated.items():
            names = sorted({c for g in gs for c in g.corruptions})
            bars[_title(setting)] = {
                "corruptions": names,
                "series": {g.key.label: [g.corruptions[c].pair() if c in g.corruptions else (math.nan, None)
                                         for c in names] for g in gs if g.corruptions},
            }
        made["corruption_bars"] = plots.corruption_bars(bars, out / PLOTS["corruption_bars"])

    heatmaps = {}
    for setting, gs in evaluated.items():
        dense = next((g for g in gs if g.key.method == "dense" and g.cells), None)
        if dense is None:
            continue
        names = sorted({c for c, _ in dense.cells})
        severities = sorted({s for _, s in dense.cells}, key=lambda s: int(s) if s.isdigit() else s)
        for g in _heatmap_groups(gs, dense, len(evaluated)):
            values = [[(g.cells[(c, s)].mean - dense.cells[(c, s)].mean)
                       if (c, s) in g.cells and (c, s) in dense.cells else None for s in severities] for c in names]
            heatmaps[f"{_title(setting)}\n{g.key.label} - dense"] = {
                "corruptions": names, "columns": severities, "values": values}
    if heatmaps:
        made["delta_heatmap"] = plots.delta_heatmaps(heatmaps, out / PLOTS["delta_heatmap"])
    matrices = corruption_delta_panels(evaluated)
    if matrices:
        made["corruption_delta"] = plots.delta_heatmaps(
            matrices, out / PLOTS["corruption_delta"], kind="matrix", columns_label="method, sparsity",
            title="Top-1 difference to dense per corruption (pp, mean over severities and seeds)")

    curves = {}
    for g in groups:
        runs = [r.fourier for r in g.runs if r.fourier]
        if runs:
            curves[f"{_title(g.key.setting)} {g.key.label}"] = {
                kind: {r: fmean(f[kind][r] for f in runs if r in f.get(kind, {})) for r in runs[0].get(kind, {})}
                for kind in ("low_pass", "high_pass")}
    if curves:
        made["fourier"] = plots.radius_curves(curves, out / PLOTS["fourier"])
    return made


# ----------------------------------------------------------------------------------------------
# the report


def markdown(groups: Sequence[Group], plots_made: dict[str, Path], runs: int) -> str:
    headers, rows = summary_rows(groups)
    lines = [
        "# Robustness report", "",
        f"{runs} runs in {len(groups)} groups (dataset, model, method, sparsity). Accuracies in %: mean ± "
        "sample standard deviation over seeds (no ± with one seed). Robust top-1 is the mean over the "
        "corruption x severity cells every run of the same dataset and model was evaluated on. "
        "Δ = group mean − dense mean (same dataset and model) ± the standard error of that difference. "
        "Training FLOPs are relative to dense training of the same model (from metrics.csv; - if not recorded).",
        "", format_table(headers, rows), "",
    ]
    c_headers, c_rows = corruption_rows(groups)
    if c_rows:
        lines += ["## Top-1 per corruption (mean over severities)", "", format_table(c_headers, c_rows), ""]
    captions = {
        "robust_vs_sparsity": "Robust top-1 vs sparsity per method (dense as a dashed line)",
        "corruption_bars": "Top-1 per corruption, each method vs dense",
        "delta_heatmap": "Corruption x severity difference to dense",
        "corruption_delta": "Per-corruption difference to dense, every method and sparsity",
        "fourier": "Accuracy under low-/high-pass filtering",
    }
    if plots_made:
        lines += ["## Figures", ""]
        for name, path in plots_made.items():
            lines += [f"### {captions[name]}", "", f"![{captions[name]}]({path.name})", ""]
    lines += ["## Runs", ""] + [f"- `{r.path}` ({g.key.label}, seed {r.seed})" for g in groups for r in g.runs]
    return "\n".join(lines) + "\n"


@dataclass
class ReportOutput:
    groups: list[Group]
    markdown: Path
    csv: Path
    plots: dict[str, Path]


def build_report(run_dirs: Sequence[str | Path], out: str | Path) -> ReportOutput:
    """Read every run, aggregate, write report.md, report.csv and the PNG plots into ``out``."""
    if not run_dirs:
        raise UserError("no run directories given; pass one or more RUN_DIR made by 'vidsparse train'")
    runs = []
    for path in run_dirs:
        run = load_run(path)
        if run.clean_top1 is None:
            warn(f"{path} has no eval.json (or no clean result); run 'vidsparse eval --run {path}' first; skipped")
            continue
        runs.append(run)
    if not runs:
        raise UserError("none of the runs has been evaluated; run 'vidsparse eval --run RUN_DIR' first")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    groups = aggregate(runs)
    plots_made = make_plots(groups, out)
    md = atomic_write_text(out / "report.md", markdown(groups, plots_made, len(runs)))
    table = atomic_write_text(out / "report.csv", csv_text(groups))
    return ReportOutput(groups, md, table, plots_made)
