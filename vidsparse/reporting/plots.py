"""Matplotlib figures for robustness reports (Agg backend, PNG, written atomically).

Each function takes plain data (dicts of numbers, already aggregated) and one output path,
so reports and the eval command share them and tests can call them directly. Figures have
a fixed size per panel (``figure_size``) so the image size is predictable; every figure has
titles, axis labels and a legend, so it reads without the accompanying text.
"""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vidsparse.core.io import atomic_write  # noqa: E402

DPI = 100
PANEL_INCHES = {  # (width, height) of one panel
    "sparsity": (5.5, 4.0),
    "bars": (12.0, 4.5),
    "heatmap": (4.5, 6.0),
    "matrix": (6.5, 6.5),  # corruptions x methods
    "radius": (5.5, 4.0),
}
MAX_COLUMNS = {"sparsity": 3, "bars": 1, "heatmap": 4, "matrix": 3, "radius": 2}


DODGE_FRACTION = 0.5  # the share of the gap between sparsities the methods' markers spread over
TITLE_CHARS_PER_INCH = 9  # the suptitle's characters per inch of figure width (default 'large' font)


def grid_shape(kind: str, panels: int) -> tuple[int, int]:
    cols = max(1, min(MAX_COLUMNS[kind], panels))
    return math.ceil(panels / cols), cols


def figure_size(kind: str, panels: int) -> tuple[int, int]:
    """Pixel size (width, height) of a figure with ``panels`` panels."""
    rows, cols = grid_shape(kind, panels)
    w, h = PANEL_INCHES[kind]
    return round(cols * w * DPI), round(rows * h * DPI)


def _figure(kind: str, panels: int, title: str):
    rows, cols = grid_shape(kind, max(panels, 1))
    w, h = PANEL_INCHES[kind]
    fig, axes = plt.subplots(rows, cols, figsize=(cols * w, rows * h), dpi=DPI, squeeze=False,
                             layout="constrained")
    fig.suptitle(textwrap.fill(title, int(cols * w * TITLE_CHARS_PER_INCH)))  # a one-panel figure is narrow
    flat = list(axes.flat)
    for ax in flat[panels:]:
        ax.set_visible(False)
    return fig, flat[:panels]


PNG_METADATA = {"Software": None}  # no matplotlib version in the file: same figure, same bytes


def _save(fig, path: str | os.PathLike) -> Path:
    """PNG with fixed metadata and the figure's own size (no tight bbox), so a report made twice
    from the same runs is byte-identical."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, metadata=PNG_METADATA))
    finally:
        plt.close(fig)


def _pct(value: float | None) -> float:
    return math.nan if value is None else 100.0 * value


def _error(mean: float, lo: float | None, hi: float | None) -> tuple[float, float]:
    """Distances (below, above) from the mean to the interval's bounds in pp; 0 without bounds."""
    if lo is None or hi is None:
        return 0.0, 0.0
    return _pct(mean) - _pct(lo), _pct(hi) - _pct(mean)


def robust_vs_sparsity(panels: Mapping[str, Mapping], path: str | os.PathLike, metric: str = "mean robust top-1") -> Path:
    """One panel per (dataset, model): a line per method over sparsity, dense as a line with a band.

    ``panels[title] = {"methods": {method: [(sparsity, mean, lo, hi)]}, "dense": (mean, lo, hi) | None}``;
    lo/hi bound the 95% t-interval of the group mean (None with one seed: no bar).
    """
    fig, axes = _figure("sparsity", len(panels),
                        f"{metric.capitalize()} vs sparsity (mean over seeds, 95% t-interval)")
    for ax, (title, data) in zip(axes, panels.items()):
        methods = sorted(data["methods"].items())
        sparsities = sorted({p[0] for _, points in methods for p in points})
        gap = min((b - a for a, b in zip(sparsities, sparsities[1:])), default=0.1)
        for i, (method, points) in enumerate(methods):
            points = sorted(points, key=lambda p: p[0])
            errors = [_error(*p[1:]) for p in points]
            # methods side by side around each sparsity, so their interval bars do not hide each other
            dodge = (i - (len(methods) - 1) / 2) * gap * DODGE_FRACTION / max(len(methods), 1)
            ax.errorbar([p[0] + dodge for p in points], [_pct(p[1]) for p in points],
                        yerr=[[e[0] for e in errors], [e[1] for e in errors]], marker="o", capsize=3, label=method)
        dense = data.get("dense")
        if dense is not None:
            mean, lo, hi = dense
            ax.axhline(_pct(mean), color="black", linestyle="--", label="dense")
            if lo is not None and hi is not None:
                ax.axhspan(_pct(lo), _pct(hi), color="black", alpha=0.1)
        ax.set_title(title)
        ax.set_xlabel("sparsity (fraction of weights removed)")
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", ncol=2)
    return _save(fig, path)


def corruption_bars(panels: Mapping[str, Mapping], path: str | os.PathLike) -> Path:
    """Grouped bars: per corruption, top-1 averaged over severities for each method (and dense).

    ``panels[title] = {"corruptions": [name, ...], "series": {label: [(mean, std), ...]}}``
    """
    fig, axes = _figure("bars", len(panels), "Top-1 per corruption (mean over severities and seeds; bars: ± 1 SD over seeds)")
    for ax, (title, data) in zip(axes, panels.items()):
        names, series = data["corruptions"], data["series"]
        width = 0.8 / max(len(series), 1)
        for k, (label, values) in enumerate(series.items()):
            xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(names))]
            ax.bar(xs, [_pct(v[0]) for v in values], width, yerr=[_pct(v[1] or 0.0) for v in values],
                   capsize=2, label=label, color="dimgray" if label == "dense" else None)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize="small")
        ax.set_title(title)
        ax.set_xlabel("corruption")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize="small", ncols=min(4, max(len(series), 1)))
    return _save(fig, path)


def panel_limits(panels: Mapping[str, Mapping]) -> list[float]:
    """Each panel's colour limit in pp: its own max |Δ| (1 when it has none), so a panel of ±3 pp
    is not washed out by one of ±50 pp next to it."""
    return [max((abs(v) for row in d["values"] for v in row if v is not None), default=0.0) * 100 or 1.0
            for d in panels.values()]


def delta_heatmaps(panels: Mapping[str, Mapping], path: str | os.PathLike, *, kind: str = "heatmap",
                   columns_label: str = "severity",
                   title: str = "Top-1 difference to dense (percentage points)") -> Path:
    """Corruption x column heatmaps of (method - dense) top-1 in percentage points.

    ``panels[title] = {"corruptions": [...], "columns": [...], "values": [[delta or None]]}``;
    the columns are severities (one method per panel) or methods (one setting per panel). Each
    panel has its own diverging scale, symmetric about 0 (``panel_limits``), and its own colour
    bar; every cell also prints its value, so panels still compare by number.
    """
    fig, axes = _figure(kind, len(panels), title)
    for ax, limit, (panel_title, data) in zip(axes, panel_limits(panels), panels.items()):
        values = [[_pct(v) for v in row] for row in data["values"]]
        image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        for i, row in enumerate(values):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    ax.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=6,
                            color="white" if abs(v) > 0.6 * limit else "black")
        rotate = {"rotation": 45, "ha": "right"} if kind == "matrix" else {}
        ax.set_xticks(range(len(data["columns"])), data["columns"], fontsize="small", **rotate)
        ax.set_yticks(range(len(data["corruptions"])), data["corruptions"], fontsize="small")
        ax.set_xlabel(columns_label)
        ax.set_ylabel("corruption")
        ax.set_title(panel_title, fontsize="medium")
        fig.colorbar(image, ax=ax, label="pp vs dense (blue = better)")
    return _save(fig, path)


def radius_curves(series: Mapping[str, Mapping[str, Mapping[str, float]]], path: str | os.PathLike,
                  title: str = "Accuracy under low-/high-pass filtering") -> Path:
    """``series[label] = {"low_pass": {radius: top1}, "high_pass": {...}}``: two panels."""
    fig, axes = _figure("radius", 2, title)
    for ax, kind in zip(axes, ("low_pass", "high_pass")):
        for label, curves in series.items():
            points = sorted((float(r), v) for r, v in curves.get(kind, {}).items())
            if points:
                ax.plot([p[0] for p in points], [_pct(p[1]) for p in points], marker="o", label=label)
        keeps = "at most" if kind == "low_pass" else "more than"
        ax.set_title(f"{kind.replace('_', '-')}: frequencies {keeps} r from DC kept")
        ax.set_xlabel("filter radius r (frequency index units)")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return _save(fig, path)

