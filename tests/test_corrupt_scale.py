"""Corrupted-set generation at scale: the estimate and --dry-run, the default output coding
(CRF, recorded; --lossless opt-in), ``corrupt --shard I/N`` + ``--merge`` (two array tasks
run in parallel equal one job byte for byte), and ``eval --shard I/N`` (the merge writes the
eval.json one job writes)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import corruptions
from tests.conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.data.video.reader import read_video
from vidsparse.generation.estimate import human_bytes

JOB = ["corrupt", "--dataset", "synthetic", "--corruptions", "gaussian_noise,jumble", "--severities", "2",
       "--limit", "6"]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fails(args: list[str], capsys, pattern: str) -> None:
    """The command exits 2 with one line on stderr matching ``pattern``."""
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(pattern, err), err


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def single_run(synthetic_root: Path, tmp_path_factory) -> tuple[Path, str]:
    """One job over 6 videos x 2 cells, and what it printed on stderr."""
    out = tmp_path_factory.mktemp("single") / "out"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([*JOB, "--data-root", str(synthetic_root), "--out", str(out)]) == 0
    return out, err.getvalue()


@pytest.fixture(scope="module")
def single(single_run: tuple[Path, str]) -> Path:
    return single_run[0]


def test_two_shards_in_parallel_equal_one_job_byte_for_byte(synthetic_root: Path, single: Path, tmp_path: Path):
    """Two SLURM array tasks (scripts/slurm_corrupt_array.sh) at once, then its MERGE=1 job."""
    out = tmp_path / "sharded"
    script = str(Path(__file__).parents[1] / "scripts" / "slurm_corrupt_array.sh")
    args = [*JOB[1:], "--data-root", str(synthetic_root), "--out", str(out)]
    env = {**os.environ, "PYTHON": sys.executable, "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "3"}
    jobs = [subprocess.Popen(["bash", script, *args], env={**env, "SLURM_ARRAY_TASK_ID": str(3 + i)},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    logs = [job.communicate(timeout=300)[0] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], logs
    assert "6 outputs written" in logs[0] and "6 outputs written" in logs[1]  # 3 videos x 2 each
    assert sorted(p.name for p in out.glob("manifest*")) == ["manifest.shard-0-of-2.jsonl",
                                                              "manifest.shard-1-of-2.jsonl"]
    merge = subprocess.run(["bash", script, *args], env={**env, "MERGE": "1"}, capture_output=True, text=True,
                           timeout=300)
    assert merge.returncode == 0 and "merged 2 shards: 12 outputs verified" in merge.stderr, merge.stderr
    assert _files(out) == _files(single)  # videos, split files and manifest.jsonl, byte for byte


def test_merge_refuses_missing_or_damaged_shards(synthetic_root: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    base = [*JOB[:-1], "2", "--data-root", str(synthetic_root), "--out", str(out)]  # 2 videos x 2 cells
    assert main([*base, "--shard", "0/2"]) == 0
    _fails([*base, "--merge"], capsys, r"no manifest of shard\(s\) 1/2")
    assert main([*base, "--shard", "1/2"]) == 0
    video = next(p for p in (out / "gaussian_noise" / "2").rglob("*.mp4"))
    video.write_bytes(video.read_bytes()[:-7])  # no longer matches its shard's checksum
    _fails([*base, "--merge"], capsys, r"1 of 4 outputs are neither recorded with a matching file nor failed")
    jumble_only = [*base[:4], "jumble", *base[5:]]
    _fails([*jumble_only, "--merge"], capsys, r"record 2 outputs this job does not make")
    _fails([*base, "--shard", "2/2"], capsys, "--shard expects I/N")


def test_dry_run_plans_and_estimates_without_writing(synthetic_root: Path, tmp_path: Path, capsys):
    out = tmp_path / "never"
    assert main([*JOB, "--data-root", str(synthetic_root), "--out", str(out), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "plan: 6 inputs, 12 outputs: 0 already done, 12 to write in 6 tasks" in err
    assert "estimate from the first task (2 outputs in" in err and "video coding CRF 17" in err
    assert "the 12 outputs take about" in err and not out.exists()


def test_estimate_is_printed_before_the_rest_of_the_job(single_run: tuple[Path, str]):
    """The estimate scales the first task's bytes to the job: 6x the first video's 2 outputs."""
    out, err = single_run
    size = sum((out / r["output"]).stat().st_size for r in _rows(out)[:2])  # video 0, both cells
    lines = err.splitlines()
    line = next(x for x in lines if x.startswith("estimate"))
    assert lines.index(line) == 1 and lines[0].startswith("plan: 6 inputs, 12 outputs")
    assert f"the 12 outputs take about {human_bytes(size * 6)}" in line and "from now" in line


def test_default_coding_is_recorded_and_lossless_is_opt_in(synthetic_root: Path, single: Path, tmp_path: Path,
                                                           capsys):
    rows = _rows(single)
    assert {json.dumps(r["coding"]) for r in rows} == {json.dumps({"codec": "libx264", "pix_fmt": "yuv444p",
                                                                   "crf": 17})}
    out = tmp_path / "lossless"
    args = [*JOB, "--data-root", str(synthetic_root), "--out", str(out), "--lossless"]
    assert main(args) == 0
    row = next(r for r in _rows(out) if r["corruption"] == "gaussian_noise")
    assert row["coding"] == {"codec": "libx264rgb", "pix_fmt": "rgb24", "lossless": True}
    source, _ = read_video(synthetic_root / row["source"])
    expected = corruptions.apply(source.permute(0, 3, 1, 2), "gaussian_noise", 2, seed=0, preset="ucf101-p",
                                 video_id=row["source"]).permute(0, 2, 3, 1)
    assert torch.equal(read_video(out / row["output"])[0], expected)
    lossy = read_video(single / row["output"])[0]
    assert lossy.shape == expected.shape and not torch.equal(lossy, expected)
    # a set made with another coding is made again, never mixed
    shutil.rmtree(out / "jumble")
    capsys.readouterr()
    assert main([*args[:-1], "--crf", "23"]) == 0
    assert "12 outputs written, 0 already done" in capsys.readouterr().out
    assert {r["coding"].get("crf") for r in _rows(out)} == {23}
    _fails([*args, "--crf", "20"], capsys, "--lossless and --crf N exclude each other")


def test_eval_shards_merge_into_the_eval_json_of_one_job(synthetic_root: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    assert main(tiny_train_args(synthetic_root, run)) == 0
    one, sharded = tmp_path / "one", tmp_path / "sharded"
    shutil.copytree(run, one)
    shutil.copytree(run, sharded)
    args = ["--views", "2x2", "--corruptions", "jumble,gaussian_noise", "--severities", "3", "--workers", "0"]
    assert main(["eval", "--run", str(one), *args]) == 0
    for i in (1, 0):
        assert main(["eval", "--run", str(sharded), *args, "--shard", f"{i}/2"]) == 0
        assert not (sharded / "eval.json").exists()
    logs = sorted(p.name for p in sharded.glob(".eval-partial*"))
    assert logs == [".eval-partial.jsonl", ".eval-partial.rank1.jsonl"]
    assert [len(p.read_text().splitlines()) - 1 for p in sorted(sharded.glob(".eval-partial*"))] == [4, 4]
    capsys.readouterr()
    assert main(["eval", "--run", str(sharded), *args]) == 0  # the merge: nothing left to predict
    assert "resumed: 8 samples were already evaluated" in capsys.readouterr().err
    assert (sharded / "eval.json").read_bytes() == (one / "eval.json").read_bytes()
    assert (sharded / "eval.csv").read_bytes() == (one / "eval.csv").read_bytes()
    assert not list(sharded.glob(".eval-partial*"))
    _fails(["eval", "--run", str(sharded), *args, "--fourier", "--shard", "0/2"], capsys,
           "--shard splits the on-the-fly evaluation only")
