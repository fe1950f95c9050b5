"""Cross-run robustness report: group runs, aggregate seeds, compare with dense, tables + plots.

Runs are grouped by (dataset, model, method with its explicit regrowth rule, sparsity) from
their ``config.yaml``; seeds of a group are averaged (mean and sample standard deviation). Each
sparse group is compared with the dense group of the same dataset and model *paired by seed*,
with a 95% t-interval and a verdict (``stats``), so three seeds are not read as more evidence
than they are. Which cells robust accuracy averages is ``cells``' rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from vidsparse.core.io import atomic_write_text
from vidsparse.core.tables import format_table
from vidsparse.errors import UserError
from vidsparse.reporting.figures import make_plots, title
from vidsparse.reporting.groups import Group, aggregate, by_setting, load_run, warn
from vidsparse.reporting.tables import (Rows, appendix_rows, corruption_rows, csv_text, family_rows,
                                        summary_rows, verdict_rows)

INTRO = ("{runs} runs in {groups} groups (dataset, model, method, sparsity; a method run with an explicit "
         "`sparse.grow` is its own group, `<method>_r` for random and `<method>_g` for gradient regrowth). "
         "Accuracies in %: mean ± sample standard deviation over seeds (no ± with one seed). rPC = robust "
         "top-1 / clean top-1 per run (relative robustness). Δ = the mean of group − dense over the seeds both "
         "have (paired by seed, same dataset and model), in percentage points (rPC as a ratio), with its 95% "
         "Student-t interval [lo, hi] (n/a with one pair). Training FLOPs are relative to dense training of the "
         "same model (from metrics.csv; - if not recorded).")
VERDICTS = ("Each sparse group's runs are paired with the dense runs of the same dataset and model by seed (only "
            "seeds both have; `pairs` = n). Δ = mean of the n differences, [lo, hi] = mean ± t(0.975, n−1) · sd / "
            "√n (t from a table of Student's t quantiles; n/a with n < 2). Verdict: **better than dense** when the "
            "whole interval is above 0, **worse than dense** when it is below 0, **no evidence** when it holds 0. "
            "The rPC verdict asks whether a group keeps more of its own clean accuracy under corruption, so a group "
            "that is only more accurate is not called more robust.")
APPENDIX = ("Settings whose headline uses the 15 common corruptions only: the same numbers over every shared "
            "cell, the extra corruptions included.")
CAPTIONS = {
    "robust_vs_sparsity": "Robust top-1 vs sparsity per method, 95% t-interval of each group mean (dense as a "
                          "dashed line with its band)",
    "corruption_bars": "Top-1 per corruption, each method vs dense",
    "delta_heatmap": "Corruption x severity difference to dense (each panel its own colour scale)",
    "corruption_delta": "Per-corruption difference to dense, every method and sparsity (each panel its own scale)",
    "fourier": "Accuracy under low-/high-pass filtering",
}


def _table(rows: Rows) -> list[str]:
    return [format_table(*rows), ""]


def cells_line(groups: Sequence[Group]) -> str:
    """Which cells a setting's headline robust top-1 averages (and the appendix's, when they differ)."""
    g = groups[0]
    line = f"Headline robust top-1 averages {g.headline.cells.describe()}"
    if g.all_cells is not g.headline:
        return line + f"; the appendix averages {g.all_cells.cells.describe()}."
    return line + "."


def verdict_section(groups: Sequence[Group]) -> list[str]:
    lines = ["## Verdicts vs dense (paired by seed, 95% t-interval)", "", VERDICTS, ""]
    for setting, gs in by_setting(groups).items():
        verdicts = verdict_rows(gs)
        if not verdicts[1]:
            continue
        lines += [f"### {title(setting)}", ""] + ([cells_line(gs), ""] if gs[0].headline.cells.cells else [])
        lines += _table(verdicts)
        families = family_rows(gs)
        if len(families[0]) > 1:
            lines += ["Δ robust top-1 per corruption family (pp, paired by seed, 95% t-interval):", "",
                      *_table(families)]
    return lines


def appendix_section(groups: Sequence[Group]) -> list[str]:
    settings = {s: gs for s, gs in by_setting(groups).items() if gs[0].all_cells is not gs[0].headline}
    if not settings:
        return []
    lines = ["## Appendix: robust top-1 over all shared cells", "", APPENDIX, ""]
    for setting, gs in settings.items():
        lines += [f"### {title(setting)}", "", f"Averages {gs[0].all_cells.cells.describe()}.", "",
                  *_table(appendix_rows(gs))]
    return lines


def markdown(groups: Sequence[Group], plots_made: dict[str, Path], runs: int) -> str:
    lines = ["# Robustness report", "", INTRO.format(runs=runs, groups=len(groups)), ""]
    lines += [f"- {title(setting)}: {cells_line(gs)}" for setting, gs in by_setting(groups).items()
              if gs[0].headline.cells.cells]
    lines += ["", *_table(summary_rows(groups))]
    lines += verdict_section(groups)
    c_rows = corruption_rows(groups)
    if c_rows[1]:
        lines += ["## Top-1 per corruption (mean over severities)", "", *_table(c_rows)]
    if plots_made:
        lines += ["## Figures", ""]
        for name, path in plots_made.items():
            lines += [f"### {CAPTIONS[name]}", "", f"![{CAPTIONS[name]}]({path.name})", ""]
    lines += appendix_section(groups)
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
