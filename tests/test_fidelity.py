"""`vidsparse fidelity`: the comparisons with the reference code hold within the report's
tolerances, and the report says what was measured.

The frame-level comparisons (Hendrycks' formulas, imagecorruptions) are also guarded one by
one in test_corruptions_reference.py, which uses the same reference formulas.
"""

from __future__ import annotations

import pytest

from vidsparse.cli import main
from vidsparse.fidelity.report import render, summary
from vidsparse.fidelity.rows import CHECKS, DIFFERS, MATCHES, Options, Row, run_checks

CHEAP = ["temporal-plans", "temporal-random-plans", "static-fog", "elastic-same-draws", "motion-blur-kernel"]


@pytest.fixture(scope="module")
def cheap_rows() -> list[Row]:
    return run_checks(Options.for_tests(), CHEAP)


def test_cheap_comparisons_match_or_are_deliberate(cheap_rows: list[Row]) -> None:
    assert len(cheap_rows) == 4 + 3 + 1 + 3 + 4
    failing = [(r.preset, r.corruption, r.variant, r.values) for r in cheap_rows if r.status == DIFFERS]
    assert failing == []


def test_temporal_plans_equal_the_generators_plans(cheap_rows: list[Row]) -> None:
    plans = {(r.corruption, r.variant): r.values for r in cheap_rows if r.how.startswith("index plan")}
    assert set(plans) == {("sampling", "fixed"), ("reverse_sampling", "fixed"), ("sampling", "reference"),
                          ("reverse_sampling", "reference")}
    assert all(values == (100.0,) * 5 for values in plans.values())


def test_row_status_follows_the_rule() -> None:
    distance = Row("p", "c", "ref", "MAE", "levels", (0.5, 2.5, 0.1, 0.1, 0.1), 2.0)
    assert distance.status == DIFFERS and not distance.within
    ladder = Row("p", "c", "ref", "PSNR", "dB", (30.0, 28.0, 28.05, 26.0, 25.0), 0.1, rule="falls")
    assert ladder.status == MATCHES
    assert Row("p", "c", "ref", "PSNR", "dB", (30.0, 28.0, 29.0, 26.0, 25.0), 0.1, rule="falls").status == DIFFERS
    share = Row("p", "c", "ref", "plan", "%", (100.0, 99.0, 100.0, 100.0, 100.0), 100.0, rule="at least")
    assert share.status == DIFFERS
    deliberate = Row("p", "c", "ref", "stats", "%", (15.0,) * 5, 10.0, deliberate="we swap")
    assert deliberate.status == "deliberate difference: we swap"
    assert Row("p", "c", "ref", "-", "-", (), 0.0, note="why").status == "not compared (why)"


def test_report_lists_every_row_with_its_values(cheap_rows: list[Row]) -> None:
    text = render(cheap_rows)
    counts = summary(cheap_rows)
    assert f"{len(cheap_rows)} rows: {counts['matches']} match" in text
    assert counts["matches"] + counts["deliberate"] == len(cheap_rows)
    assert "| freeze " in text and "## ucf101-p" in text and "## Sparse methods" in text
    assert "| mest   | mest_schedule" in text  # defaults read from the code beside the MEST scripts'


def test_command_writes_the_report_and_names_unknown_checks(tmp_path, capsys) -> None:
    out = tmp_path / "fidelity.md"
    assert main(["fidelity", "--quick", "--only", "static-fog", "--out", str(out)]) == 0
    assert "1 rows: 1 match" in capsys.readouterr().out
    assert "| fog " in out.read_text()
    assert main(["fidelity", "--only", "no-such-check", "--out", str(out)]) == 2
    assert "unknown check(s) no-such-check; valid: " + ", ".join(CHECKS) in capsys.readouterr().err
