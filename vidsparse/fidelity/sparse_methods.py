"""Each sparse method's defaults beside the values of its paper and its authors' code.

The "ours" column is read from the code (``SparseConfig`` defaults and each method class's
own defaults), so this table cannot drift from what a run does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vidsparse.core.tables import format_table
from vidsparse.sparse.config import DEFAULT_UPDATE_EVERY, SparseConfig, resolve_defaults
from vidsparse.sparse.sparsifier import METHODS


@dataclass(frozen=True)
class Fact:
    method: str
    option: str  # a SparseConfig field, or "grow" (read from the method class)
    paper: str
    code: str
    source: str
    why: str = ""  # reason when our default differs from both


FACTS = (
    Fact("set", "drop_fraction", "0.3", "0.3 (zeta)", "Mocanu et al. 2018; dcmocanu/sparse-evolutionary-artificial-neural-networks"),
    Fact("set", "grow", "random", "random", "Mocanu et al. 2018"),
    Fact("set", "update_unit", "epochs", "epochs", "Mocanu et al. 2018",
         "RigL's step interval for every DST method, shortened in short runs; update_unit=epochs gives the paper's"),
    Fact("set", "set_signed_drop", "-", "True (drops among positive and negative weights separately)",
         "SET reference code", "plain magnitude is the shared drop rule of the DST-vs-dense study; option kept"),
    Fact("rigl", "drop_fraction", "0.3", "0.3", "Evci et al. 2020; google-research/rigl"),
    Fact("rigl", "drop_schedule", "cosine", "cosine", "Evci et al. 2020"),
    Fact("rigl", "update_every", "100 steps", "100", "Evci et al. 2020"),
    Fact("rigl", "update_end", "0.75", "0.75", "Evci et al. 2020"),
    Fact("rigl", "grow", "gradient", "gradient", "Evci et al. 2020"),
    Fact("rigl", "regrow_momentum", "zero", "zero", "google-research/rigl"),
    Fact("rigl", "distribution", "erk", "erk", "Evci et al. 2020"),
    Fact("mest", "grow", "random", "random", "Yuan et al. 2021; boone891214/MEST"),
    Fact("mest", "mest_lambda", "> 0", "0 in the released scripts", "boone891214/MEST",
         "the released scripts' value"),
    Fact("mest", "mest_schedule", "soft memory bound", "bounds (prune-to / grow-to stepping down by epoch)",
         "boone891214/MEST", "linear decay of the extra density; mest_schedule=bounds is the scripts' EM&S"),
    Fact("granet", "initial_density", "0.8 (from dense in some settings)", "0.8", "Liu et al. 2021; VITA-Group/GraNet"),
    Fact("granet", "grow", "gradient", "gradient", "Liu et al. 2021"),
    Fact("lth", "lth_schedule", "imp (each round the full schedule)", "imp", "Frankle & Carbin 2019"),
    Fact("lth", "rewind_epoch", "0 (init) / early epoch", "0", "Frankle & Carbin 2019"),
    Fact("snip", "snip_batches", "1", "1", "Lee et al. 2019"),
)


def our_default(method: str, option: str) -> Any:
    """The value a run of ``method`` with no options uses (auto intervals as their long-run value)."""
    if option == "grow":
        return getattr(METHODS[method], "default_grow", "-")
    if option == "update_every":
        return getattr(SparseConfig(), option) or DEFAULT_UPDATE_EVERY
    return getattr(resolve_defaults(SparseConfig(method=method)), option)


def _same(ours: str, theirs: str) -> bool:
    try:
        return float(ours) == float(theirs)
    except ValueError:
        return ours.lower() == theirs.lower()


def sparse_method_rows() -> str:
    body = []
    for fact in FACTS:
        ours = str(our_default(fact.method, fact.option))
        same = any(_same(ours, word) for text in (fact.paper, fact.code) for word in [text, *text.split()])
        body.append([fact.method, fact.option, ours, fact.paper, fact.code, fact.source,
                     "matches" if same else f"differs: {fact.why or 'see docs/sparse.md'}"])
    return format_table(["method", "option", "ours", "paper", "authors' code", "source", "status"], body)
