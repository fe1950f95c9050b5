"""Long jobs under faults: `vidsparse eval` and `vidsparse corrupt` killed part-way (SIGKILL) resume
without redoing finished work and end exactly as an uninterrupted run; SIGTERM stops them
cleanly (exit 143, no temporary or half-written file).

Each job runs in a subprocess that is stopped once its own bookkeeping shows partial progress;
the jobs are made long enough by their size (corruptions x severities x views), not by sleeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.evaluation import sources

TEST_VIDEOS, ALL_VIDEOS = 8, 20  # the tiny synthetic set: 4 classes x (3 train + 2 test)
EVAL = ["--corruptions", "noise,mpeg4,motion_blur", "--severities", "1,3,5", "--views", "2x2", "--batch-size", "4"]
CORRUPT = ["--dataset", "synthetic", "--corruptions", "gaussian_noise,jumble,motion_blur", "--severities", "1,3"]
OUTPUTS = ALL_VIDEOS * 3 * 2
PARTIAL = ".eval-partial.jsonl"


@pytest.fixture(scope="module")
def trained_run(synthetic_root: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("faults") / "run"
    assert main(tiny_train_args(synthetic_root, run)) == 0
    return run


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen:
    log = open(tmp_path / "job.log", "w")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "vidsparse.cli", *args], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=tmp_path)


def _wait_for(progress: Callable[[], bool], job: subprocess.Popen, tmp_path: Path) -> None:
    deadline = time.monotonic() + 120
    while not progress():
        if job.poll() is not None:
            pytest.fail(f"the job ended before it could be interrupted:\n{(tmp_path / 'job.log').read_text()[-2000:]}")
        if time.monotonic() > deadline:
            job.kill()
            pytest.fail("the job made no progress within 120 s")
        time.sleep(0.01)


def _stop(job: subprocess.Popen, sig: signal.Signals) -> int:
    job.send_signal(sig)
    return job.wait(timeout=120)


def _complete_lines(path: Path) -> list[dict]:
    """JSON lines that were written whole (a kill may cut the last one short)."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines(keepends=True)
    return [json.loads(line) for line in lines if line.endswith("\n")]


def _files(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones too) -> sha256 of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


# ----------------------------------------------------------------------------------------------
# vidsparse eval


def test_killed_eval_resumes_without_redoing_finished_videos(trained_run: Path, tmp_path: Path, monkeypatch,
                                                             capsys):
    reference, victim = shutil.copytree(trained_run, tmp_path / "reference"), shutil.copytree(trained_run,
                                                                                                tmp_path / "victim")
    assert main(["eval", "--run", str(reference), *EVAL]) == 0

    job = _start(["eval", "--run", str(victim), *EVAL], tmp_path)
    log = victim / PARTIAL
    _wait_for(lambda: len(_complete_lines(log)) >= 2, job, tmp_path)  # header + one finished video
    assert _stop(job, signal.SIGKILL) == -signal.SIGKILL
    finished = len(_complete_lines(log)) - 1
    assert 1 <= finished < TEST_VIDEOS and not (victim / "eval.json").exists()

    decoded = []
    real_read = sources.read_video
    monkeypatch.setattr(sources, "read_video", lambda *a, **k: decoded.append(a[0]) or real_read(*a, **k))
    capsys.readouterr()
    assert main(["eval", "--run", str(victim), *EVAL]) == 0
    assert f"resumed: {finished} samples were already evaluated" in capsys.readouterr().err
    assert len(decoded) == TEST_VIDEOS - finished  # finished videos are not decoded again
    assert json.loads((victim / "eval.json").read_text()) == json.loads((reference / "eval.json").read_text())
    assert not list(victim.glob(".eval-partial*")) and not _temporaries(victim)


def test_sigterm_stops_eval_cleanly(trained_run: Path, tmp_path: Path):
    run = shutil.copytree(trained_run, tmp_path / "run")
    job = _start(["eval", "--run", str(run), *EVAL], tmp_path)
    _wait_for(lambda: len(_complete_lines(run / PARTIAL)) >= 2, job, tmp_path)
    assert _stop(job, signal.SIGTERM) == 128 + signal.SIGTERM
    assert "vidsparse eval: stopped by SIGTERM; the same command resumes" in (tmp_path / "job.log").read_text()
    text = (run / PARTIAL).read_text()  # kept for resuming, and whole: every line complete
    assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())
    assert not (run / "eval.json").exists() and not _temporaries(run)


# ----------------------------------------------------------------------------------------------
# vidsparse corrupt


def test_killed_corrupt_job_resumes_to_identical_outputs(synthetic_root: Path, tmp_path: Path, capsys):
    reference, victim = tmp_path / "reference", tmp_path / "victim"
    common = ["corrupt", "--data-root", str(synthetic_root), *CORRUPT]
    assert main([*common, "--out", str(reference)]) == 0

    job = _start([*common, "--out", str(victim)], tmp_path)
    _wait_for(lambda: len(_complete_lines(victim / "manifest.jsonl")) >= 2, job, tmp_path)
    assert _stop(job, signal.SIGKILL) == -signal.SIGKILL
    recorded = len(_complete_lines(victim / "manifest.jsonl"))
    assert 2 <= recorded < OUTPUTS

    capsys.readouterr()
    assert main([*common, "--out", str(victim)]) == 0
    out = capsys.readouterr().out
    assert f"{OUTPUTS - recorded} outputs written, {recorded} already done, 0 failed" in out
    assert _files(victim) == _files(reference)  # same files, byte for byte: no temporaries left


def test_sigterm_stops_corrupt_workers_cleanly(synthetic_root: Path, tmp_path: Path):
    out = tmp_path / "out"
    job = _start(["corrupt", "--data-root", str(synthetic_root), *CORRUPT, "--out", str(out), "--workers", "2"],
                 tmp_path)
    _wait_for(lambda: len(_complete_lines(out / "manifest.jsonl")) >= 1, job, tmp_path)
    assert _stop(job, signal.SIGTERM) == 128 + signal.SIGTERM  # queued videos dropped, not run first
    assert "vidsparse corrupt: stopped by SIGTERM" in (tmp_path / "job.log").read_text()
    rows = _complete_lines(out / "manifest.jsonl")
    assert 1 <= len(rows) < OUTPUTS and not _temporaries(out)
    for row in rows:  # everything recorded is finished and intact
        assert hashlib.sha256((out / row["output"]).read_bytes()).hexdigest() == row["sha256"]


def test_leftovers_of_a_killed_corrupt_job_are_cleaned(tmp_path: Path):
    """Temporary files and image-class folders are removed; a manifest line cut short is dropped
    before new rows are appended after it."""
    from vidsparse.generation.manifest import Manifest, remove_stale_temporaries

    (tmp_path / "fog" / "1" / ".n01440764.tmp-4242").mkdir(parents=True)  # an image class in the making
    (tmp_path / "fog" / "1" / ".n01440764.tmp-4242" / "a.JPEG").write_bytes(b"jpeg")
    (tmp_path / "fog" / ".fog.npy.tmp-4242").write_bytes(b"npy")
    (tmp_path / "fog" / "1" / "kept.JPEG").write_bytes(b"jpeg")
    assert remove_stale_temporaries(tmp_path) == 2
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["kept.JPEG"]

    row = {"output": "fog/1/kept.JPEG", "sha256": hashlib.sha256(b"jpeg").hexdigest()}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row) + "\n" + '{"output": "fog/2/x", "sha2')
    manifest = Manifest(tmp_path)
    assert manifest.damaged and list(manifest.rows) == ["fog/1/kept.JPEG"]
    manifest.compact()
    manifest.add({"output": "fog/3/y", "sha256": "0" * 64})
    assert [r["output"] for r in _complete_lines(tmp_path / "manifest.jsonl")] == ["fog/1/kept.JPEG", "fog/3/y"]
    assert Manifest(tmp_path).is_done(tmp_path, "fog/1/kept.JPEG") and not Manifest(tmp_path).damaged
