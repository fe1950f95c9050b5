"""One-command check of a CUDA machine (``scripts/gpu_check.sh``): under 5 minutes on one GPU.

Steps, in one process (the CLI's ``main``, as a user would call it):

1. the device tests: ``tests/test_fake_cuda.py``, portable checkpoints, deterministic kernels,
   attacks, and any test that needs real CUDA (they skip on a CPU);
2. a short RigL training with AMP on the synthetic set, on the GPU;
3. an on-the-fly evaluation of that run with every ucf101-p corruption (severity 3);
4. a run trained one epoch on the CPU and resumed on the GPU (the portable checkpoint);
5. a throughput table as ratios from this one run: training clips/s and evaluation clips/s
   (GPU vs CPU), frame-level corruptions frames/s (GPU vs CPU).

``--cpu`` runs the same steps on the CPU with tiny sizes (what the test suite checks);
``--dry-run`` prints the commands and checks that every one parses, running nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import corruptions  # noqa: E402
from vidsparse.cli import build_parser, main  # noqa: E402
from vidsparse.config import ModelConfig  # noqa: E402
from vidsparse.core.device import autocast  # noqa: E402
from vidsparse.models import model_from_config  # noqa: E402
from vidsparse.core.tables import format_table  # noqa: E402

TESTS = ["tests/test_cuda.py", "tests/test_fake_cuda.py", "tests/test_portable_checkpoints.py",
         "tests/test_deterministic.py", "tests/test_attacks.py", "tests/test_dist_timeout.py"]
SYNTHETIC = {"classes": 4, "train_per_class": 4, "test_per_class": 2, "frames": 20, "size": 64, "fps": 10, "seed": 0}
TINY = {"classes": 3, "train_per_class": 2, "test_per_class": 1, "frames": 12, "size": 32, "fps": 10, "seed": 0}
FRAME_CORRUPTIONS = ["gaussian_noise", "shot_noise", "defocus_blur", "motion_blur", "zoom_blur", "rotate"]


def train_args(data: Path, out: Path, device: str, tiny: bool, *extra: str) -> list[str]:
    synthetic = TINY if tiny else SYNTHETIC
    sizes = ["model.width=4", "data.resize=32", "data.crop=24", "data.clip_len=4"] if tiny else \
        ["data.resize=64", "data.crop=56", "data.clip_len=8"]
    args = ["train", "--data-root", str(data), "--out", str(out), "--device", device, "--epochs", "1",
            "--batch-size", "4", "--workers", "0", "--method", "rigl", "--sparsity", "0.8",
            "--set", "sparse.update_every=2", "--set", "train.amp=true"]
    for item in sizes + [f"data.synthetic.{k}={v}" for k, v in synthetic.items()]:
        args += ["--set", item]
    return args + list(extra)


def plan(work: Path, cpu: bool) -> list[tuple[str, list[str]]]:
    """(name, vidsparse CLI arguments) of steps 2-4."""
    device = "cpu" if cpu else "cuda"
    data = work / "data"
    severities = "3"
    corrupt = "ucf101-p" if not cpu else "gaussian_noise,jumble"  # cpu: one frame-level, one temporal
    return [
        ("train RigL + AMP", train_args(data, work / "amp", device, cpu)),
        ("on-the-fly eval, ucf101-p", ["eval", "--run", str(work / "amp"), "--device", device, "--views", "1x1",
                                       "--corruptions", corrupt, "--preset", "ucf101-p", "--severities", severities,
                                       "--workers", "0"]),
        ("train 1 epoch on the CPU", train_args(data, work / "portable", "cpu", cpu)),
        ("resume it on the GPU", train_args(data, work / "portable", device, cpu, "--epochs", "2", "--resume")),
    ]


def _rate(fn: Callable[[], int], repeats: int) -> float:
    fn()  # warm-up: kernels, cuDNN autotuning, caches
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start, items = time.perf_counter(), 0
    for _ in range(repeats):
        items += fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return items / (time.perf_counter() - start)


def corruption_rate(name: str, device: str, frames: int, size: int, repeats: int) -> float:
    video = torch.randint(0, 256, (frames, 3, size, size), dtype=torch.uint8, device=device)
    return _rate(lambda: corruptions.apply(video, name, 3, preset="ucf101-p", seed=0).shape[0], repeats)


def model_rates(device: str, batch: int, clip: tuple[int, int], repeats: int, width: int = 0) -> tuple[float, float]:
    """(training clips/s with AMP where CUDA, evaluation clips/s) of r3d_small on random clips."""
    model = model_from_config(ModelConfig(name="r3d_small", width=width), 10).to(device)
    x = torch.randn(batch, 3, clip[0], clip[1], clip[1], device=device)
    y = torch.zeros(batch, dtype=torch.long, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    dev = torch.device(device)

    def step() -> int:
        with autocast(dev):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return batch

    def infer() -> int:
        with torch.no_grad(), autocast(dev):
            model(x)
        return batch

    model.train()
    train = _rate(step, repeats)
    model.eval()
    return train, _rate(infer, repeats)


def throughput_table(cpu: bool) -> str:
    """Rates on the CPU and (unless ``cpu``) the GPU, and their ratios, measured now."""
    frames, size, repeats = (2, 32, 1) if cpu else (16, 112, 5)
    batch, clip, width = (2, (4, 32), 4) if cpu else (8, (16, 112), 0)
    devices = ["cpu"] if cpu else ["cpu", "cuda"]
    rows: list[list[str]] = []

    def add(what: str, rates: list[float]) -> None:
        ratio = f"{rates[1] / rates[0]:.1f}x" if len(rates) > 1 else "unrun (no GPU)"
        rows.append([what, *(f"{r:,.1f}" for r in rates), *(["-"] if len(rates) == 1 else []), ratio])

    model = [model_rates(d, batch, clip, repeats, width) for d in devices]
    add("training clips/s (r3d_small)", [m[0] for m in model])
    add("evaluation clips/s (r3d_small)", [m[1] for m in model])
    for name in FRAME_CORRUPTIONS:
        add(f"{name} frames/s", [corruption_rate(name, d, frames, size, repeats) for d in devices])
    return format_table(["what", "CPU", "GPU", "GPU / CPU"], rows)


def main_check(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run every step on the CPU, tiny (no GPU needed)")
    parser.add_argument("--dry-run", action="store_true", help="print and parse the commands; run nothing")
    parser.add_argument("--work", type=Path, default=Path("gpu_check_work"), help="scratch folder (default %(default)s)")
    parser.add_argument("--skip-tests", action="store_true", help="leave out step 1 (pytest)")
    args = parser.parse_args(argv)
    if not args.cpu and not torch.cuda.is_available() and not args.dry_run:
        print("gpu_check: no CUDA device here; run with --cpu for the CPU dry run", file=sys.stderr)
        return 2
    steps = plan(args.work, args.cpu)
    tests = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS]
    if args.dry_run:
        print("1. " + " ".join(tests))
        for i, (name, cli) in enumerate(steps, 2):
            build_parser().parse_args(cli)  # a renamed flag fails here, not on the GPU machine
            print(f"{i}. {name}: vidsparse {' '.join(cli)}")
        print(f"{len(steps) + 2}. throughput table")
        return 0
    started = time.time()
    if not args.skip_tests:
        print("== 1. device tests", flush=True)
        if subprocess.call(tests, cwd=ROOT) != 0:
            return 1
    for i, (name, cli) in enumerate(steps, 2):
        print(f"== {i}. {name}", flush=True)
        if main(cli) != 0:
            print(f"gpu_check: step {i} ({name}) failed", file=sys.stderr)
            return 1
    print(f"== {len(steps) + 2}. throughput (one run; ratios are what to compare)", flush=True)
    print(throughput_table(args.cpu))
    print(f"gpu_check: all steps passed in {time.time() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main_check())
