"""`vidsparse train` under torchrun: 2 CPU processes (gloo) on the tiny synthetic set.

Each rank runs the real CLI through a small entry script that records, per rank, every file
it wrote and the mask digests at every cross-rank mask check, so the test can see that only
rank 0 writes and that both ranks held the same masks after every topology update.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import RandomSampler

from tests.conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.core.distributed import World, shard_with_padding
from vidsparse.tracking.csv_log import read_scalars
from vidsparse.training.setup import epoch_order

# torchrun entry: runs `vidsparse <args>` once per argument list in RUNS.json (one launch, so the
# second job reuses the process group the first one created) and saves what each rank did per run.
ENTRY = '''
import json, os, sys
import vidsparse.core.checkpoint, vidsparse.core.io, vidsparse.sparse.sparsifier
from vidsparse.cli import main
from vidsparse.sparse.distributed import mask_digests

real_write, real_check = vidsparse.core.io.atomic_write, vidsparse.sparse.sparsifier.assert_masks_identical
records = []

def atomic_write(path, write):
    records[-1]["writes"].append(os.path.basename(path))
    return real_write(path, write)

def check(sparsifier):
    records[-1]["mask_checks"].append(mask_digests(sparsifier))
    real_check(sparsifier)

vidsparse.core.io.atomic_write = vidsparse.core.checkpoint.atomic_write = atomic_write
vidsparse.sparse.sparsifier.assert_masks_identical = check
for args in json.load(open(sys.argv[1])):
    records.append({"writes": [], "mask_checks": []})
    records[-1]["code"] = main(args)
with open(os.path.join(os.path.dirname(sys.argv[1]), "rank%s.json" % os.environ["RANK"]), "w") as fh:
    json.dump(records, fh)
'''

EPOCHS = 2
METHODS = ("rigl", "set")


def launch_two_ranks(tmp_path: Path, runs: list[list[str]]) -> subprocess.CompletedProcess:
    (tmp_path / "entry.py").write_text(ENTRY)
    (tmp_path / "runs.json").write_text(json.dumps(runs))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(tmp_path / "entry.py"), str(tmp_path / "runs.json")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode:  # the first failing rank's own error, not only the launcher's summary
        first = next((line for line in done.stderr.splitlines() if "Error" in line and "[rank" in line), "")
        done.stderr = f"first rank error: {first}\n...{done.stderr[-2500:]}"
        (tmp_path / "stderr.txt").write_text(done.stderr)
    return done


def test_two_rank_training_keeps_masks_identical_and_only_rank_0_writes(
        synthetic_root: Path, tmp_path: Path, capsys):
    from vidsparse.config import load_run_config
    from vidsparse.data.build import build_datasets
    from vidsparse.evaluation.accuracy import evaluate
    from vidsparse.evaluation.context import load_run_model
    from vidsparse.models import get_model_entry

    runs = {m: tmp_path / m for m in METHODS}
    done = launch_two_ranks(tmp_path, [
        tiny_train_args(synthetic_root, runs[m], "--epochs", str(EPOCHS), "--batch-size", "2", "--method", m,
                        "--sparsity", "0.5", "--set", "sparse.update_every=1", "--set", "sparse.update_end=1.0",
                        "--set", "sparse.distribution=uniform", "--log", "tensorboard",
                        "--set", "train.log_every=1")
        for m in METHODS])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("epoch 1 |") == len(METHODS)  # one voice per job
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]

    for i, method in enumerate(METHODS):
        rank0, rank1 = records[0][i], records[1][i]
        assert rank0["code"] == rank1["code"] == 0
        assert rank1["writes"] == []
        assert {"config.yaml", "sparsity.json", "metrics.csv", "last.pt", "best.pt", "scalars.csv",
                "tracking.json"} <= set(rank0["writes"])
        # trackers: rank 0 alone opened TensorBoard, and logged each step once
        assert len(list((runs[method] / "tensorboard").glob("events.out.tfevents.*"))) == 1
        losses = read_scalars(runs[method] / "scalars.csv")["train/loss"]
        assert [s for s, _ in losses] == list(range(1, len(losses) + 1)) and len(losses) == EPOCHS * 3

        # every topology update was followed by a cross-rank check, and the ranks agreed each time
        checks = rank0["mask_checks"]
        assert checks == rank1["mask_checks"], method
        assert len(checks) > EPOCHS  # per-update checks, not only the epoch-end ones
        assert len({json.dumps(c, sort_keys=True) for c in checks}) > 1  # the masks really changed
        rows = list(csv.DictReader((runs[method] / "metrics.csv").open()))
        assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
        assert sum(float(r["mask_changed"]) for r in rows) > 0

        # the accuracy logged under DDP is the single-process accuracy of the model rank 0 saved
        cfg, model, state = load_run_model(runs[method], checkpoint="last")
        entry = get_model_entry(cfg.model.name)
        bundle = build_datasets(cfg, entry.input.mean, entry.input.std)
        single = evaluate(model, bundle.test, bundle.classes, torch.device("cpu"), 4, progress=False)
        assert float(rows[-1]["test_top1"]) == pytest.approx(single.top1, abs=1e-6)
        assert state["world_size"] == 2 and len(state["ranks"]) == 2
        assert load_run_config(runs[method]).train.batch_size == 2  # per process

    # a change of the process count on resume is refused in one line
    assert main(tiny_train_args(synthetic_root, runs["set"], "--epochs", str(EPOCHS + 1), "--resume")) == 2
    assert "written by a job of 2 process(es)" in capsys.readouterr().err


def test_one_process_trains_in_random_sampler_order():
    for n, seed in [(12, 0), (37, 10_001)]:
        expected = list(RandomSampler(range(n), generator=torch.Generator().manual_seed(seed)))
        assert epoch_order(n, seed) == expected


def test_shards_are_padded_to_equal_length_and_cover_every_sample():
    order = list(range(10))
    shards = [shard_with_padding(order, World(rank=r, size=4)) for r in range(4)]
    assert [len(s) for s in shards] == [3, 3, 3, 3]
    assert sorted(set(sum(shards, []))) == order
    assert shard_with_padding([7, 8], World(rank=2, size=3)) == [7]  # fewer items than ranks
