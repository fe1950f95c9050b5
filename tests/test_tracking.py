"""Experiment tracking end to end: ``vidsparse train --log ...``, a resume, a resume after a
simulated kill, then ``vidsparse eval``; every backend's files are read back and checked.

TensorBoard is a default dependency. W&B and MLflow are optional extras: their checks are
skipped (``importorskip``) where the extra is not installed.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections import Counter
from pathlib import Path

import pytest

from conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.errors import UserError
from vidsparse.run_dir import RunDir
from vidsparse.training import loop
from vidsparse.tracking import BACKENDS, Backend, RunTracker, TrackedRun, eval_scalars, parse_backends
from vidsparse.tracking.csv_log import read_scalars

STEPS_PER_EPOCH = 3  # 12 training videos, batch 4
EVAL = ["--views", "1x1", "--corruptions", "gaussian_noise", "--severities", "1", "--workers", "0"]


def _backends() -> str:
    names = ["tensorboard"]
    for module in ("wandb", "mlflow"):
        try:
            __import__(module)
            names.append(module)
        except ImportError:
            pass
    return ",".join(names)


@pytest.fixture(scope="module")
def tracked(synthetic_root: Path, tmp_path_factory) -> tuple[Path, dict]:
    """One SET run with every installed tracker: 2 epochs of 3 steps, last.pt also saved every 2
    steps (each save kept aside); then two kills emulated by putting an earlier last.pt back and
    resuming: from step 4 (steps 5-6 and epoch 2 were already logged and committed), and from
    the save after epoch 2's last batch (its epoch row was already logged at that same step);
    then an evaluation. Returns the run and the scalars of the uninterrupted pass."""
    run = tmp_path_factory.mktemp("tracked") / "run"
    saved = run.parent / "saved"
    saved.mkdir()
    common = tiny_train_args(synthetic_root, run, "--epochs", "2", "--method", "set", "--sparsity", "0.8",
                             "--set", "sparse.update_every=1", "--set", "train.log_every=1", "--log", _backends())
    real_save = loop.save_checkpoint

    def save_and_keep(path, state, **kw):
        real_save(path, state, **kw)
        if path == RunDir(run).last:
            shutil.copy(path, saved / f"e{state['epoch']}-s{state['step']}-b{state['batch']}.pt")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loop, "save_checkpoint", save_and_keep)
        assert main([*common, "--checkpoint-every", "2"]) == 0
    first_pass = read_scalars(RunDir(run).scalars)
    for kept in ("e1-s4-b1.pt", "e1-s6-b3.pt"):
        shutil.copy(saved / kept, RunDir(run).last)
        assert main([*common, "--resume"]) == 0
    assert main(["eval", "--run", str(run), *EVAL]) == 0
    return run, {"first_pass": first_pass}


def test_csv_scalars_match_metrics_and_sparsity_without_duplicates(tracked):
    run, seen = tracked
    files = RunDir(run)
    series = read_scalars(files.scalars)
    for tag, points in series.items():
        steps = [s for s, _ in points]
        assert len(steps) == len(set(steps)), f"{tag} has a step twice: {steps}"
    assert [s for s, _ in series["train/loss"]] == list(range(1, 2 * STEPS_PER_EPOCH + 1))
    rows = [r for r in __import__("csv").DictReader(files.metrics.open())]
    assert [s for s, _ in series["epoch/test_top1"]] == [3, 6]
    assert [v for _, v in series["epoch/test_top1"]] == pytest.approx([float(r["test_top1"]) for r in rows])
    assert [v for _, v in series["epoch/train_loss"]] == pytest.approx([float(r["train_loss"]) for r in rows], rel=1e-5)
    # the mean of an epoch's per-step losses (equal batches) is metrics.csv's train loss
    losses = [v for _, v in series["train/loss"]]
    assert sum(losses[:3]) / 3 == pytest.approx(float(rows[0]["train_loss"]), rel=1e-5)
    # after the kills the log holds what the uninterrupted pass logged (resume is exact)
    assert series.keys() == seen["first_pass"].keys()
    for tag in ("train/loss", "train/lr", "epoch/test_top1", "sparse/mask_churn"):
        assert [s for s, _ in series[tag]] == [s for s, _ in seen["first_pass"][tag]], tag
        assert [v for _, v in series[tag]] == pytest.approx([v for _, v in seen["first_pass"][tag]], rel=1e-6), tag
    # churn x maskable weights, summed over an epoch's updates, is metrics.csv's mask_changed
    report = json.loads(files.sparsity.read_text())
    params = report["total"]["params"]
    for row, (lo, hi) in zip(rows, [(1, 3), (4, 6)]):
        flips = sum(v * params for s, v in series["sparse/mask_churn"] if lo <= s <= hi)
        assert flips == pytest.approx(float(row["mask_changed"]), abs=0.5)
    assert dict(series["sparse/density"])[0] == pytest.approx(report["total"]["density"], rel=1e-6)
    for layer in report["layers"]:
        assert series[f"sparse/layer_density/{layer['name']}"][-1][1] == pytest.approx(layer["density"], rel=1e-6)
    fractions = [v for _, v in series["sparse/drop_fraction"]]
    assert all(0 < f <= 0.3 for f in fractions) and fractions == sorted(fractions, reverse=True)  # cosine decay
    lrs = dict(series["train/lr"])
    assert lrs[1] > 0 and float(rows[1]["lr"]) == pytest.approx(0.0, abs=1e-12)


def test_tensorboard_events_read_back_once_per_step(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = tracked
    csv_series = read_scalars(RunDir(run).scalars)
    events = EventAccumulator(str(RunDir(run).tensorboard))
    events.Reload()
    for tag in ("train/loss", "train/lr", "epoch/test_top1", "sparse/mask_churn", "sparse/density"):
        points = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in points] == [s for s, _ in csv_series[tag]], tag
        assert [v for _, v in points] == pytest.approx([v for _, v in csv_series[tag]], rel=1e-6), tag
    assert "hparams" in events.Tags()["tensors"] or events.PluginTagToContent("hparams")
    evaluation = EventAccumulator(str(RunDir(run).tensorboard / "eval"))
    evaluation.Reload()
    data = json.loads(RunDir(run).eval_json.read_text())
    assert [(e.step, e.value) for e in evaluation.Scalars("eval/clean/top1")] == [
        (6, pytest.approx(data["clean"]["top1"]))]
    assert evaluation.Scalars("eval/gaussian_noise/1/top1")[0].value == pytest.approx(
        data["corruptions"]["gaussian_noise"]["1"]["top1"])


def test_mlflow_file_store_holds_config_metrics_and_eval(tracked):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    run, _ = tracked
    state = json.loads(RunDir(run).tracking.read_text())
    client = MlflowClient(tracking_uri=RunDir(run).mlruns.resolve().as_uri())
    logged = client.get_run(state["run_ids"]["mlflow"])
    assert logged.data.params["sparse.method"] == "set" and logged.data.params["train.epochs"] == "2"
    csv_series = read_scalars(RunDir(run).scalars)
    for tag in ("train/loss", "epoch/test_top1", "sparse/mask_churn"):
        history = sorted((m.step, m.value) for m in client.get_metric_history(logged.info.run_id, tag))
        assert [s for s, _ in history] == [s for s, _ in csv_series[tag]], tag  # each step once
        assert [v for _, v in history] == pytest.approx([v for _, v in csv_series[tag]], rel=1e-6)
    data = json.loads(RunDir(run).eval_json.read_text())
    assert logged.data.metrics["eval/clean/top1"] == pytest.approx(data["clean"]["top1"])
    assert logged.data.metrics["eval/summary/mpc"] == pytest.approx(data["summary"]["mpc"])


def test_mlflow_resume_keeps_logged_params_and_tags_changed_ones(tmp_path):
    """MLflow refuses to change a logged parameter; a resume with more epochs must not fail."""
    pytest.importorskip("mlflow")
    from vidsparse.tracking.mlflow_log import MlflowBackend

    first = MlflowBackend(TrackedRun(tmp_path, "run", None, None))
    first.log_params({"train.epochs": 1, "optim.lr": 0.1})
    first.close()
    again = MlflowBackend(TrackedRun(tmp_path, "run", 3, first.run_id))
    again.log_params({"train.epochs": 2, "optim.lr": 0.1, "train.log": "mlflow"})
    logged = again._client.get_run(first.run_id).data
    again.close()
    assert logged.params == {"train.epochs": "1", "optim.lr": "0.1", "train.log": "mlflow"}
    assert logged.tags["resumed.train.epochs"] == "2" and "resumed.optim.lr" not in logged.tags


def wandb_records(path: Path):
    """The protobuf records of a W&B ``.wandb`` file (a LevelDB-style log of 32 KiB blocks, each
    record a 7-byte header: CRC, length, type FULL/FIRST/MIDDLE/LAST)."""
    from wandb.proto import wandb_internal_pb2

    data, pos, chunks = path.read_bytes(), 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            pos += left
            continue
        chunks += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            chunks = b""
            yield record


def test_wandb_offline_runs_continue_one_run_without_duplicate_steps(tracked):
    pytest.importorskip("wandb")
    run, _ = tracked
    run_id = json.loads(RunDir(run).tracking.read_text())["run_ids"]["wandb"]
    files = sorted(RunDir(run).wandb.glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(files) == 4  # train, two resumes, eval: one W&B run id
    history, summary, config = [], {}, {}
    for path in files:
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                history.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
            elif kind == "summary":
                summary.update({i.key: json.loads(i.value_json) for i in record.summary.update if i.key})
            elif kind == "config":
                config.update({i.key: json.loads(i.value_json) for i in record.config.update})
    steps = [h["_step"] for h in history]
    assert steps == sorted(set(steps)) and steps == list(range(0, 2 * STEPS_PER_EPOCH + 1))
    csv_series = read_scalars(RunDir(run).scalars)
    assert [h["train/loss"] for h in history if "train/loss" in h] == pytest.approx(
        [v for _, v in csv_series["train/loss"]], rel=1e-6)
    assert [h["epoch/test_top1"] for h in history if "epoch/test_top1" in h] == pytest.approx(
        [v for _, v in csv_series["epoch/test_top1"]])
    assert config["sparse.method"] == "set" and config["train.epochs"] == 2
    data = json.loads(RunDir(run).eval_json.read_text())
    assert summary["eval/clean/top1"] == pytest.approx(data["clean"]["top1"])


class Recorder(Backend):
    """A committing backend that keeps what it receives (in ``RECEIVED``, across reopenings)."""

    name, rewinds = "recorder", False
    RECEIVED: list[tuple[int, str]] = []

    def __init__(self, run: TrackedRun) -> None:
        pass

    def log_params(self, params) -> None:
        pass

    def log_scalars(self, step, scalars) -> None:
        self.RECEIVED.extend((step, tag) for tag in scalars)


def test_committing_backend_gets_each_step_and_tag_once_across_kills(tmp_path, monkeypatch):
    """Kills emulated by dropping the tracker without closing it, then reopening at a checkpoint."""
    monkeypatch.setitem(BACKENDS, "recorder", Recorder)
    Recorder.RECEIVED = []
    tracker = RunTracker(tmp_path, "recorder", {"a": 1}, None)
    for step in (1, 2, 3):
        tracker.log(step, {"loss": float(step)})
    tracker.commit(2)  # checkpoint at step 2 (step 3 stays pending)
    assert Recorder.RECEIVED == [(1, "loss"), (2, "loss")]
    tracker.log(3, {"epoch/acc": 0.5})
    tracker.commit(3)  # committed, then killed before last.pt at 3 was written: resume from 2
    tracker = RunTracker(tmp_path, "recorder", {"a": 1}, 2)
    tracker.log(3, {"loss": 3.0})
    tracker.log(3, {"epoch/acc": 0.5, "epoch/extra": 1.0})  # a tag new at the committed step gets through
    tracker.log(4, {"loss": 4.0})
    tracker.commit(4)
    assert sorted(Recorder.RECEIVED) == [(1, "loss"), (2, "loss"), (3, "epoch/acc"), (3, "epoch/extra"),
                                         (3, "loss"), (4, "loss")]
    series = read_scalars(RunDir(tmp_path).scalars)  # csv, always on, rewound to step 2 then continued
    assert series["loss"] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]
    assert series["epoch/acc"] == [(3, 0.5)]


def test_a_tracker_that_fails_to_open_is_one_line(tmp_path, monkeypatch):
    class Broken(Recorder):
        name = "broken"

        def __init__(self, run: TrackedRun) -> None:
            raise ConnectionError("no route to host\nlong details")

    monkeypatch.setitem(BACKENDS, "broken", Broken)
    with pytest.raises(UserError, match="^--log broken: could not open the run's broken log: no route to host$"):
        RunTracker(tmp_path, "broken", {}, None)


def test_eval_scalars_flatten_eval_json():
    data = {"clean": {"top1": 0.5, "top5": 0.9, "n": 8, "views": "1x1"},
            "corruptions": {"fog": {"3": {"top1": 0.25, "top5": 0.75, "n": 8}}},
            "summary": {"mpc": 0.25, "by_family": {"weather": 0.25}, "note": "x"}}
    assert eval_scalars(data) == {"eval/clean/top1": 0.5, "eval/clean/top5": 0.9, "eval/fog/3/top1": 0.25,
                                  "eval/fog/3/top5": 0.75, "eval/summary/mpc": 0.25,
                                  "eval/summary/by_family/weather": 0.25}


def test_log_names_are_checked_before_training(monkeypatch):
    assert parse_backends("tensorboard, csv") == ["csv", "tensorboard"]
    with pytest.raises(UserError, match="did you mean tensorboard"):
        parse_backends("tensorbord")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"^--log mlflow needs the 'mlflow' package: pip install 'vidsparse\[mlflow\]'$"):
        parse_backends("mlflow")
    with pytest.raises(UserError, match=r"^--log tensorboard needs the 'tensorboard' package: pip install tensorboard$"):
        parse_backends("tensorboard")


def test_a_missing_extra_is_one_line_from_the_cli(synthetic_root, tmp_path, monkeypatch, capsys):
    real = __import__("importlib").util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    assert main(tiny_train_args(synthetic_root, tmp_path / "run", "--log", "wandb")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'vidsparse[wandb]'" in err
    assert not (tmp_path / "run").exists()  # refused before anything was written
