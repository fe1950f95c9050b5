"""RunDir (the one owner of a run directory's file names) and the JSON-lines logs of core.io."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsparse.core.io import append_jsonl, jsonl_text, read_jsonl
from vidsparse.errors import UserError
from vidsparse.run_dir import RunDir


def test_checkpoint_falls_back_from_best_to_last(tmp_path: Path):
    run = RunDir(tmp_path)
    with pytest.raises(UserError, match="no checkpoint in .*train it first"):
        run.find_checkpoint("best")
    run.last.write_bytes(b"x")
    assert run.find_checkpoint("best") == ("last", tmp_path / "last.pt")  # eval.json records "last"
    run.best.write_bytes(b"x")
    assert run.find_checkpoint("best") == ("best", tmp_path / "best.pt")
    assert run.find_checkpoint("last")[0] == "last"
    with pytest.raises(UserError, match="run directory not found"):
        RunDir(tmp_path / "absent").find_checkpoint()
    with pytest.raises(UserError, match="unknown checkpoint 'middle'"):
        run.checkpoint("middle")


def test_partial_logs_one_per_rank(tmp_path: Path):
    run = RunDir(tmp_path)
    assert run.partial_log(0).name == ".eval-partial.jsonl" and run.partial_log(2).name == ".eval-partial.rank2.jsonl"
    for rank in (0, 1):
        run.partial_log(rank).write_text("")
    assert run.partial_logs() == [run.partial_log(0), run.partial_log(1)]
    assert run.read_eval() is None


def test_jsonl_log_survives_a_line_cut_short(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    assert read_jsonl(path) == ([], False)
    path.write_text(jsonl_text([{"a": 1}]))
    with path.open("a") as handle:
        append_jsonl(handle, [{"b": 2}, [3]])
    assert read_jsonl(path) == ([{"a": 1}, {"b": 2}, [3]], False)
    path.write_text(path.read_text() + '{"c": ')  # a kill mid-line
    assert read_jsonl(path) == ([{"a": 1}, {"b": 2}, [3]], True)
