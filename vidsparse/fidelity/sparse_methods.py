"""Each sparse method's defaults beside the values of its paper and its authors' code.

The "ours" column is read from the code (``SparseConfig`` defaults and each method class's
own defaults), so this table cannot drift from what a run does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vidsparse.core.tables import format_table
from vidsparse.sparse.config import SparseConfig
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
         "steps with a run-length-scaled interval, so short runs still update; update_unit=epochs gives the paper's"),
    Fact("set", "set_signed_drop", "-", "True (drops among positive and negative weights separately)",
         "SET reference code", "plain magnitude is the shared drop rule of the DST-vs-dense study; option kept"),
    Fact("rigl", "drop_fraction", "0.3", "0.3", "Evci et al. 2020; google-research/rigl"),
    Fact("rigl", "drop_schedule", "cosine", "cosine", "Evci et al. 2020"),
    Fact("rigl", "update_end", "0.75", "0.75", "Evci et al. 2020"),
    Fact("rigl", "grow", "gradient", "gradient", "Evci et al. 2020"),
    Fact("rigl", "regrow_momentum", "zero", "zero", "google-research/rigl"),
    Fact("rigl", "distribution", "erk", "erk", "Evci et al. 2020"),
    Fact("mest", "grow", "random", "random", "Yuan et al. 2021; boone891214/MEST"),
    Fact("mest", "mest_lambda", "> 0", "0 in the released scripts", "boone891214/MEST",
         "the released scripts' value"),
    Fact("mest", "mest_extra_density", "soft bound", "lower/upper bound schedule", "boone891214/MEST"),
    Fact("granet", "initial_density", "0.8 (from dense in some settings)", "0.8", "Liu et al. 2021; VITA-Group/GraNet"),
    Fact("granet", "grow", "gradient", "gradient", "Liu et al. 2021"),
    Fact("lth", "rewind_epoch", "0 (init) / early epoch", "0", "Frankle & Carbin 2019"),
    Fact("snip", "snip_batches", "1", "1", "Lee et al. 2019"),
)


def our_default(method: str, option: str) -> Any:
    if option == "grow":
        return getattr(METHODS[method], "default_grow", "-")
    return getattr(SparseConfig(), option)


def sparse_method_rows() -> str:
    body = []
    for fact in FACTS:
        ours = str(our_default(fact.method, fact.option))
        same = ours.lower() in (fact.paper.lower(), fact.code.lower()) or ours.lower() in fact.code.lower().split()
        body.append([fact.method, fact.option, ours, fact.paper, fact.code, fact.source,
                     "matches" if same else f"differs: {fact.why or 'see docs/sparse.md'}"])
    return format_table(["method", "option", "ours", "paper", "authors' code", "source", "status"], body)
