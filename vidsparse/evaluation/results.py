"""RUN_DIR/eval.json and eval.csv: every result stored with the settings that produced it.

A result is reused by a later ``vidsparse eval`` only when its settings match (views,
checkpoint and its epoch, and for corrupted inputs also preset, variant, seed and temporal
coherence); results made with other settings are dropped so a summary never mixes them.
Every write is atomic, and eval.json is rewritten after each finished cell.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vidsparse.core.io import atomic_write_json, atomic_write_text
from vidsparse.core.tables import format_table
from vidsparse.evaluation import metrics
from vidsparse.evaluation.accuracy import Accuracy
from vidsparse.evaluation.cells import CLEAN, Cell
from vidsparse.run_dir import RunDir

CLEAN_KEY = ("views", "checkpoint", "epoch")
CELL_KEY = CLEAN_KEY + ("preset", "variant", "seed", "coherent")


@dataclass(frozen=True)
class Setting:
    views: str  # "CLIPSxCROPS"
    checkpoint: str  # best | last
    epoch: int | None  # the checkpoint's epoch: a retrained run invalidates old results
    preset: str = ""
    variant: str = "fixed"
    seed: int = 0
    coherent: bool | None = None

    def key(self, clean: bool) -> dict[str, Any]:
        values = asdict(self)
        return {k: values[k] for k in (CLEAN_KEY if clean else CELL_KEY)}


def _matches(entry: dict, key: dict) -> bool:
    return all(entry.get(k) == v for k, v in key.items())


def severity_order(severities) -> list[str]:
    return sorted(severities, key=lambda s: int(s))


class EvalFile:
    """The eval.json of one run, as a dict with setting-aware accessors."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = RunDir(run_dir).eval_json
        self.data: dict = RunDir(run_dir).read_eval() or {}
        self.data.setdefault("clean", {})
        self.data.setdefault("corruptions", {})
        self.data.setdefault("summary", {})

    @property
    def clean(self) -> dict:
        return self.data["clean"]

    @property
    def corruptions(self) -> dict[str, dict[str, dict]]:
        return self.data["corruptions"]

    def has(self, cell: Cell, setting: Setting) -> bool:
        if cell.corruption == CLEAN:
            return "top1" in self.clean and _matches(self.clean, setting.key(clean=True))
        entry = self.corruptions.get(cell.corruption, {}).get(str(cell.severity))
        return entry is not None and _matches(entry, setting.key(clean=False))

    def drop_stale(self, setting: Setting, corruption_settings: bool = True) -> int:
        """Remove results made with other settings; returns how many were dropped.

        With ``corruption_settings=False`` (a clean-only evaluation) corruption results are
        compared on views and checkpoint only, so they survive a later clean re-run.
        Adversarial results are always compared on views, checkpoint and epoch.
        """
        dropped = 0
        if self.clean and not _matches(self.clean, setting.key(clean=True)):
            self.data["clean"] = {}
            dropped += 1
        key = setting.key(clean=not corruption_settings)
        for name in list(self.corruptions):
            for sev in list(self.corruptions[name]):
                if not _matches(self.corruptions[name][sev], key):
                    del self.corruptions[name][sev]
                    dropped += 1
            if not self.corruptions[name]:
                del self.corruptions[name]
        attacks = self.data.get("adversarial", {})
        for name in list(attacks):  # compared on views, checkpoint and epoch (seed: at reuse)
            for key in [k for k, e in attacks[name].items() if not _matches(e, setting.key(clean=True))]:
                del attacks[name][key]
                dropped += 1
            if not attacks[name]:
                del attacks[name]
        if not attacks:
            self.data.pop("adversarial", None)
        return dropped

    def put(self, cell: Cell, acc: Accuracy, setting: Setting, **extra: Any) -> None:
        entry = {**acc.to_dict(), **setting.key(clean=cell.corruption == CLEAN), **extra}
        if cell.corruption == CLEAN:
            self.data["clean"] = entry
        else:
            severities = self.corruptions.setdefault(cell.corruption, {})
            severities[str(cell.severity)] = entry
            self.corruptions[cell.corruption] = {s: severities[s] for s in severity_order(severities)}

    def grid(self, metric: str = "top1") -> dict[str, dict[str, float]]:
        return {name: {s: float(e[metric]) for s, e in sev.items()} for name, sev in self.corruptions.items() if sev}

    def write(self, families: dict[str, str] | None = None) -> None:
        atomic_write_json(self.path, self.data)
        atomic_write_text(RunDir(self.run_dir).eval_csv, csv_text(self.data, families or {}))


# ----------------------------------------------------------------------------------------------
# summary, CSV and terminal table


def noop_note(entry: dict) -> str | None:
    """The note "no-op on N of M videos": the corruption left N of the cell's M evaluated videos unchanged."""
    count = int(entry.get("noop_videos") or 0)
    return f"no-op on {count} of {entry.get('n', '?')} videos" if count else None


def noop_cells(data: dict) -> dict[str, dict[str, str]]:
    """corruption -> severity -> note, for the cells where the corruption changed nothing on some videos.

    Their accuracy is (partly) clean accuracy, not robustness: the summary and the printed
    table flag them rather than let them pass as robust.
    """
    out: dict[str, dict[str, str]] = {}
    for name, severities in data["corruptions"].items():
        for sev, entry in severities.items():
            note = noop_note(entry)
            if note:
                out.setdefault(name, {})[sev] = note
    return out


def summary(data: dict, families: dict[str, str], baseline: metrics.Baseline | None = None,
            ce_corruptions: list[str] | None = None) -> dict:
    """The eval.json "summary": robust accuracy, mPC/rPC, gamma, families, CE when a baseline is given,
    and ``noop_cells`` when some cells left videos unchanged."""
    grid = {n: {s: float(e["top1"]) for s, e in sev.items()} for n, sev in data["corruptions"].items() if sev}
    if not grid:
        return {}
    flagged = noop_cells(data)
    return {**_summary(data, grid, families, baseline, ce_corruptions), **({"noop_cells": flagged} if flagged else {})}


def _summary(data: dict, grid: dict, families: dict[str, str], baseline: metrics.Baseline | None,
             ce_corruptions: list[str] | None) -> dict:
    top5 = {n: {s: float(e["top5"]) for s, e in sev.items()} for n, sev in data["corruptions"].items() if sev}
    clean = data.get("clean", {}).get("top1")
    if clean is None:  # no clean result (e.g. an image -C set alone): what needs no clean accuracy
        return {"mean_robust_top1": metrics.mean_robust_accuracy(grid), "mpc": metrics.mpc(grid),
                "mean_robust_top5": metrics.mean_robust_accuracy(top5), "mean_error": metrics.mean_error(grid),
                "by_family": metrics.family_means(grid, families), "by_corruption": metrics.corruption_means(grid),
                "cells": sum(len(s) for s in grid.values())}
    return metrics.summarize(clean, grid, top5, families, baseline, ce_corruptions)


CSV_FIELDS = ("corruption", "family", "severity", "top1", "top5", "n", "skipped", "missing_videos",
              "gamma_a", "gamma_r", "views", "preset", "variant", "seed", "noop_videos")


def csv_text(data: dict, families: dict[str, str]) -> str:
    """One row per corruption x severity (the clean result first, as severity 0)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    clean = data.get("clean", {})
    if "top1" in clean:
        writer.writerow({**clean, "corruption": CLEAN, "family": CLEAN, "severity": 0})
    for name, severities in data["corruptions"].items():
        for sev, entry in severities.items():
            row = {**entry, "corruption": name, "family": families.get(name, "other"), "severity": sev}
            if "top1" in clean:
                row["gamma_a"] = round(metrics.absolute_robustness(clean["top1"], entry["top1"]), 6)
                if clean["top1"] > 0:
                    row["gamma_r"] = round(metrics.relative_robustness(clean["top1"], entry["top1"]), 6)
            writer.writerow(row)
    return out.getvalue()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


NOOP_MARK = "!"  # after a table value: the corruption left some of the cell's videos unchanged


def format_results(data: dict, families: dict[str, str]) -> str:
    """Compact terminal table: top-1 (%) per corruption and severity, then the summary."""
    clean = data.get("clean", {})
    lines = []
    if "top1" in clean:
        lines.append(format_table(["input", "views", "top1", "top5", "samples", "skipped"],
                                  [["clean", clean.get("views", "-"), _pct(clean["top1"]), _pct(clean["top5"]),
                                    clean["n"], clean.get("skipped", 0)]]))
    corr = data["corruptions"]
    if corr:
        sevs = sorted({int(s) for sev in corr.values() for s in sev})
        rows = []
        flagged = noop_cells(data)
        for name, severities in corr.items():
            values = [severities.get(str(s), {}).get("top1") for s in sevs]
            present = [v for v in values if v is not None]
            marks = [NOOP_MARK if str(s) in flagged.get(name, {}) else "" for s in sevs]
            rows.append([name, families.get(name, "other"), *[_pct(v) + m for v, m in zip(values, marks)],
                         _pct(sum(present) / len(present) if present else None)])
        lines.append(format_table(["corruption", "family", *[f"s{s}" for s in sevs], "mean"], rows))
        if flagged:
            notes = "; ".join(f"{name} s{sev} {note}" for name, sevs_ in flagged.items() for sev, note in sevs_.items())
            lines.append(f"{NOOP_MARK} the corruption left videos unchanged, so this accuracy is partly clean "
                         f"accuracy, not robustness: {notes}")
    s = data.get("summary") or {}
    if s:
        parts = [f"mean robust top-1 {_pct(s.get('mean_robust_top1'))}", f"mPC {_pct(s.get('mpc'))}"]
        if s.get("rpc") is not None:
            parts.append(f"rPC {s['rpc']:.3f}")
        if s.get("gamma_r") is not None:
            parts.append(f"gamma_a {s['gamma_a']:.3f} gamma_r {s['gamma_r']:.3f}")
        if "mce" in s:
            ce = "-" if s["mce"] is None else f"{100 * s['mce']:.1f}"
            rel = "-" if s["relative_mce"] is None else f"{100 * s['relative_mce']:.1f}"
            parts.append(f"mCE {ce} relative mCE {rel} (vs {s['ce_baseline']})")
        if s.get("by_family"):
            parts.append("families " + ", ".join(f"{f} {_pct(v)}" for f, v in s["by_family"].items()))
        lines.append("; ".join(parts))
    attacks = [[name, key, _pct(e.get("clean_top1")), _pct(e["top1"]), _pct(e["top5"]), e["n"]]
               for name, entries in (data.get("adversarial") or {}).items() for key, e in entries.items()]
    if attacks:
        lines.append(format_table(["attack", "setting", "clean top1", "attacked top1", "attacked top5", "samples"],
                                  attacks))
    fourier = data.get("fourier")
    if fourier:
        for kind in ("low_pass", "high_pass"):
            curve = ", ".join(f"r={r}: {_pct(v)}" for r, v in fourier[kind].items())
            lines.append(f"{kind.replace('_', '-')} top-1: {curve}")
    return "\n".join(lines)
