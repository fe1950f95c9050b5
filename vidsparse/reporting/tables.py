"""The report's tables as rows of text (Markdown) and as CSV: formatting only, no statistics.

Accuracies print in percent (differences in percentage points), rPC as a ratio. A paired
difference prints as ``mean [lo, hi]`` (its 95% t-interval), ``mean [n/a]`` with one pair,
``-`` without a dense group to pair with.
"""

from __future__ import annotations

import csv
import io
from typing import Sequence

from vidsparse.reporting.groups import Group, Stat, View
from vidsparse.reporting.stats import Interval, verdict

Rows = tuple[list[str], list[list]]
INTERVAL = "[95% CI]"


def pct(stat: Stat | None) -> str:
    if stat is None:
        return "-"
    return f"{100 * stat.mean:.2f}" + (f" ± {100 * stat.std:.2f}" if stat.std is not None else "")


def ratio(stat: Stat | None) -> str:
    if stat is None:
        return "-"
    return f"{stat.mean:.3f}" + (f" ± {stat.std:.3f}" if stat.std is not None else "")


def interval(iv: Interval | None, scale: float = 100.0, digits: int = 2) -> str:
    """``+5.00 [+4.10, +5.90]``; accuracies in pp (scale 100), rPC as a ratio (scale 1, 3 digits)."""
    if iv is None:
        return "-"
    text = f"{scale * iv.mean:+.{digits}f}"
    if iv.lo is None or iv.hi is None:
        return f"{text} [n/a]"
    return f"{text} [{scale * iv.lo:+.{digits}f}, {scale * iv.hi:+.{digits}f}]"


def rpc_interval(iv: Interval | None) -> str:
    return interval(iv, 1.0, 3)


def _families(groups: Sequence[Group]) -> list[str]:
    return sorted({f for g in groups for f in g.families})


def _attacks(groups: Sequence[Group]) -> list[str]:
    return sorted({a for g in groups for a in g.adversarial})


def summary_rows(groups: Sequence[Group]) -> Rows:
    families, attacks = _families(groups), _attacks(groups)
    headers = ["dataset", "model", "method", "sparsity", "seeds", "clean top-1", "robust top-1", "rPC",
               f"Δ clean vs dense {INTERVAL}", f"Δ robust vs dense {INTERVAL}", "train FLOPs vs dense"]
    headers += [f"{f} top-1" for f in families] + [f"adversarial top-1 ({a})" for a in attacks]
    rows = []
    for g in groups:
        rows.append([g.key.dataset, g.key.model, g.key.name, f"{g.key.sparsity:g}", len(g.runs),
                     pct(g.clean), pct(g.robust), ratio(g.rpc), interval(g.delta_clean), interval(g.delta_robust),
                     "-" if g.flops is None else f"{g.flops.mean:.3f}"]
                    + [pct(g.families.get(f)) for f in families] + [pct(g.adversarial.get(a)) for a in attacks])
    return headers, rows


def corruption_rows(groups: Sequence[Group]) -> Rows:
    headers = ["corruption"] + [g.key.label for g in groups]
    names = sorted({c for g in groups for c in g.corruptions})
    return headers, [[c] + [pct(g.corruptions.get(c)) for g in groups] for c in names]


VERDICT_HEADERS = [f"Δ robust {INTERVAL}", "robust verdict", f"Δ rPC {INTERVAL}", "rPC verdict"]


def _verdict_cells(view: View) -> list[str]:
    return [interval(view.delta_robust), verdict(view.delta_robust),
            rpc_interval(view.delta_rpc), verdict(view.delta_rpc)]


def _pairs(g: Group) -> str:
    found = g.delta_robust or g.delta_clean
    return "-" if found is None else str(found.n)


def _sparse(groups: Sequence[Group]) -> list[Group]:
    return [g for g in groups if g.key.method != "dense"]


def verdict_rows(groups: Sequence[Group]) -> Rows:
    """One setting's sparse groups: pairs, clean Δ, then robust and rPC Δ with their verdicts."""
    headers = ["group", "pairs (n)", f"Δ clean {INTERVAL}"] + VERDICT_HEADERS
    return headers, [[g.key.label, _pairs(g), interval(g.delta_clean)] + _verdict_cells(g.headline)
                     for g in _sparse(groups)]


def family_rows(groups: Sequence[Group]) -> Rows:
    """One setting's sparse groups: paired Δ robust top-1 per corruption family."""
    families = _families(groups)
    return (["group"] + families,
            [[g.key.label] + [interval(g.headline.delta_families.get(f)) for f in families] for g in _sparse(groups)])


def appendix_rows(groups: Sequence[Group]) -> Rows:
    """One setting's groups over all shared cells: the headline numbers' counterparts."""
    headers = ["group", "seeds", "robust top-1", "rPC"] + VERDICT_HEADERS
    return headers, [[g.key.label, len(g.runs), pct(g.all_cells.robust), ratio(g.all_cells.rpc)]
                     + (_verdict_cells(g.all_cells) if g.key.method != "dense" else ["-"] * 4) for g in groups]


# ----------------------------------------------------------------------------------------------
# CSV


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _stat(stat: Stat | None) -> list[str]:
    return [_num(stat and stat.mean), _num(stat and stat.std)]


def _delta(iv: Interval | None) -> list[str]:
    return [_num(iv and iv.mean), _num(iv and iv.lo), _num(iv and iv.hi), "" if iv is None else str(iv.n)]


def _delta_fields(name: str) -> list[str]:
    return [f"delta_{name}", f"delta_{name}_lo", f"delta_{name}_hi", f"delta_{name}_n"]


def _view_fields(suffix: str) -> list[str]:
    return ([f"robust{suffix}_top1_mean", f"robust{suffix}_top1_std", f"rpc{suffix}_mean", f"rpc{suffix}_std"]
            + _delta_fields(f"robust{suffix}_top1") + [f"verdict_robust{suffix}"]
            + _delta_fields(f"rpc{suffix}") + [f"verdict_rpc{suffix}"])


def _view_values(view: View, dense: bool) -> list[str]:
    def judged(iv: Interval | None) -> str:
        return "" if dense else verdict(iv)  # dense is the reference, not judged

    return (_stat(view.robust) + _stat(view.rpc) + _delta(view.delta_robust) + [judged(view.delta_robust)]
            + _delta(view.delta_rpc) + [judged(view.delta_rpc)])


def csv_text(groups: Sequence[Group]) -> str:
    """Machine-readable: fractions (rPC a ratio), mean and std in separate columns, each paired Δ as
    mean, 95% bounds and n; the headline cells, then the same over all shared cells (``_all``)."""
    families, attacks = _families(groups), _attacks(groups)
    fields = ["dataset", "model", "method", "grow", "sparsity", "runs", "seeds", "headline_cells",
              "headline_n_cells", "all_n_cells", "clean_top1_mean", "clean_top1_std"]
    fields += _delta_fields("clean_top1") + _view_fields("") + _view_fields("_all") + ["train_flops_ratio"]
    fields += [f"{f}_{part}" for f in families for part in ("mean", "std")]
    fields += [field for f in families for field in _delta_fields(f"{f}_top1")]
    fields += [f"adversarial_top1_{part} ({a})" for a in attacks for part in ("mean", "std")]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for g in groups:
        row = [g.key.dataset, g.key.model, g.key.name, g.key.grow, f"{g.key.sparsity:g}", len(g.runs),
               " ".join(map(str, g.seeds)), g.headline.cells.name, len(g.headline.cells.cells),
               len(g.all_cells.cells.cells)]
        dense = g.key.method == "dense"
        row += _stat(g.clean) + _delta(g.delta_clean) + _view_values(g.headline, dense)
        row += _view_values(g.all_cells, dense)
        row.append(_num(g.flops and g.flops.mean))
        row += [v for f in families for v in _stat(g.families.get(f))]
        row += [v for f in families for v in _delta(g.headline.delta_families.get(f))]
        row += [v for a in attacks for v in _stat(g.adversarial.get(a))]
        writer.writerow(row)
    return out.getvalue()

