"""The report's figures: aggregated groups turned into the plain data ``plots`` draws.

Robust accuracy here is the headline one (``cells.cell_sets``), the same number as the
tables; the per-corruption figures show every shared cell.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import fmean
from typing import Sequence

from vidsparse.reporting import plots
from vidsparse.reporting.groups import Group, Stat, by_setting

PLOTS = {
    "robust_vs_sparsity": "robust_vs_sparsity.png",
    "corruption_bars": "corruption_bars.png",
    "delta_heatmap": "delta_heatmap.png",
    "corruption_delta": "corruption_delta.png",
    "fourier": "fourier.png",
}
MAX_HEATMAP_PANELS = 12


def title(setting: tuple[str, str]) -> str:
    return f"{setting[0]} / {setting[1]}"


def _band(stat: Stat) -> tuple[float, float | None, float | None]:
    """(mean, lo, hi) of the 95% t-interval of a group mean (no bounds with one run)."""
    iv = stat.interval()
    return iv.mean, iv.lo, iv.hi


def _heatmap_groups(groups: Sequence[Group], dense: Group, settings: int) -> list[Group]:
    """The groups that get a corruption x severity panel: all of them, or only each method's
    highest sparsity when a big sweep would make the figure unreadable (the per-corruption
    matrix still shows every group)."""
    candidates = [g for g in groups if g is not dense and g.cells]
    if len(candidates) * settings <= MAX_HEATMAP_PANELS:
        return candidates
    highest: dict[str, Group] = {}
    for g in candidates:
        if g.key.name not in highest or g.key.sparsity > highest[g.key.name].key.sparsity:
            highest[g.key.name] = g
    return list(highest.values())


def sparsity_panels(settings: dict[tuple[str, str], list[Group]]) -> dict[str, dict]:
    """Per setting: each method name's (sparsity, mean, lo, hi) points and dense's (mean, lo, hi)."""
    panels = {}
    for setting, gs in settings.items():
        methods: dict[str, list] = {}
        for g in gs:
            if g.key.method != "dense" and g.robust is not None:
                methods.setdefault(g.key.name, []).append((g.key.sparsity, *_band(g.robust)))
        dense = next((_band(g.robust) for g in gs if g.key.method == "dense" and g.robust), None)
        panels[title(setting)] = {"methods": methods, "dense": dense}
    return panels


def severity_panels(settings: dict[tuple[str, str], list[Group]]) -> dict[str, dict]:
    """One panel per (setting, sparse group): corruption x severity differences to dense."""
    panels = {}
    for setting, gs in settings.items():
        dense = next((g for g in gs if g.key.method == "dense" and g.cells), None)
        if dense is None:
            continue
        names = sorted({c for c, _ in dense.cells})
        severities = sorted({s for _, s in dense.cells}, key=lambda s: int(s) if s.isdigit() else s)
        for g in _heatmap_groups(gs, dense, len(settings)):
            values = [[(g.cells[(c, s)].mean - dense.cells[(c, s)].mean)
                       if (c, s) in g.cells and (c, s) in dense.cells else None for s in severities] for c in names]
            panels[f"{title(setting)}\n{g.key.label} - dense"] = {
                "corruptions": names, "columns": severities, "values": values}
    return panels


def corruption_delta_panels(settings: dict[tuple[str, str], list[Group]]) -> dict[str, dict]:
    """Per setting: corruptions x (method, sparsity) differences to dense, the study's overview plot."""
    panels = {}
    for setting, gs in settings.items():
        dense = next((g for g in gs if g.key.method == "dense" and g.corruptions), None)
        others = sorted((g for g in gs if g is not dense and g.corruptions),
                        key=lambda g: (g.key.name, g.key.sparsity))
        if dense is None or not others:
            continue
        names = sorted(dense.corruptions)
        panels[title(setting)] = {
            "corruptions": names, "columns": [g.key.label for g in others],
            "values": [[g.corruptions[c].mean - dense.corruptions[c].mean if c in g.corruptions else None
                        for g in others] for c in names]}
    return panels


def make_plots(groups: Sequence[Group], out: Path) -> dict[str, Path]:
    made: dict[str, Path] = {}
    evaluated = {s: gs for s, gs in by_setting(groups).items() if any(g.robust for g in gs)}
    if evaluated:
        made["robust_vs_sparsity"] = plots.robust_vs_sparsity(sparsity_panels(evaluated),
                                                              out / PLOTS["robust_vs_sparsity"])
        bars = {}
        for setting, gs in evaluated.items():
            names = sorted({c for g in gs for c in g.corruptions})
            bars[title(setting)] = {
                "corruptions": names,
                "series": {g.key.label: [g.corruptions[c].pair() if c in g.corruptions else (math.nan, None)
                                         for c in names] for g in gs if g.corruptions},
            }
        made["corruption_bars"] = plots.corruption_bars(bars, out / PLOTS["corruption_bars"])
    heatmaps = severity_panels(evaluated)
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
            curves[f"{title(g.key.setting)} {g.key.label}"] = {
                kind: {r: fmean(f[kind][r] for f in runs if r in f.get(kind, {})) for r in runs[0].get(kind, {})}
                for kind in ("low_pass", "high_pass")}
    if curves:
        made["fourier"] = plots.radius_curves(curves, out / PLOTS["fourier"])
    return made
