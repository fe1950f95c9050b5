#!/usr/bin/env python
"""Benchmark the sparse engine against dense training in the same run.

1. Training-step time with masks (RigL, topology update every 100 steps) vs dense, on the
   same small 3D ResNet; dense and sparse steps are interleaved so machine load hits both
   alike. Reports median and mean ratios.
2. Time of one topology update (RigL and SET) on full-size torchvision r3d_18 (33M weights).
3. Extra memory of the masks, in bytes per maskable weight.

    python scripts/bench_sparse.py [--steps 200] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from vidsparse.sparse import SparseConfig, SparseContext, build_sparsifier


class Block3d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.skip = (nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class SmallResNet3d(nn.Module):
    """A three-stage 3D ResNet (about 1.2M weights): big enough that the step is dominated
    by convolutions, as in real training, small enough for a CPU benchmark."""

    def __init__(self, num_classes: int = 10, width: int = 24) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, width, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                                  nn.BatchNorm3d(width), nn.ReLU())
        self.layers = nn.Sequential(Block3d(width, width, 1), Block3d(width, 2 * width, 2),
                                    Block3d(2 * width, 4 * width, 2))
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.layers(self.stem(x)).mean((2, 3, 4)))


def context(total_steps: int, example: Tensor | None = None) -> SparseContext:
    return SparseContext(total_steps=total_steps, steps_per_epoch=total_steps, epochs=1,
                         example_input=example, loss_fn=F.cross_entropy,
                         batches=lambda: iter(()), log=lambda _m: None)


def bench_step_time(steps: int, batch: int, frames: int, size: int) -> dict:
    """Step time (forward, backward, before_step, optimizer step with re-masking hook), dense
    vs RigL at sparsity 0.8, plus the sparsifier's own share measured directly."""
    x = torch.randn(batch, 3, frames, size, size)
    y = torch.randint(0, 10, (batch,))
    runs = {}
    for name in ("dense", "rigl"):
        torch.manual_seed(0)
        model = SmallResNet3d()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        cfg = SparseConfig(method=name, sparsity=0.0 if name == "dense" else 0.8,
                           update_every=100, update_end=1.0)
        runs[name] = (model, opt, build_sparsifier(cfg, model, opt, context(10 * steps)), [], [])

    def one_step(model, opt, sparsifier, times, before_times, step):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        before = time.perf_counter()
        sparsifier.before_step(step)
        before_times.append(time.perf_counter() - before)
        opt.step()
        sparsifier.after_step(step)
        times.append(time.perf_counter() - start)

    for step in range(-5, steps + 1):  # 5 warm-up steps; steps 100, 200, ... update masks
        for run in (runs["dense"], runs["rigl"]) if step % 2 else (runs["rigl"], runs["dense"]):
            one_step(*run, max(step, 0))
    model, opt, sparsifier, sparse, before = runs["rigl"]
    dense = runs["dense"][3][5:]
    sparse, before = sparse[5:], before[5:]  # index i is step i
    updates = [before[i] for i in range(len(before)) if sparsifier.schedule.is_update(i)]
    plain = [before[i] for i in range(len(before)) if not sparsifier.schedule.is_update(i)]
    hooks = []
    for _ in range(21):
        start = time.perf_counter()
        sparsifier._remask_after_optimizer_step(opt, (), {})
        hooks.append(time.perf_counter() - start)
    # medians: robust to other processes; updates are amortised over dT steps
    own = statistics.median(plain) + statistics.median(hooks) + sum(updates) / max(len(before), 1)
    return {"steps": len(sparse), "updates": int(sparsifier.epoch_stats.updates),
            "weights": sum(t.numel for t in sparsifier.tensors),
            "input": [batch, 3, frames, size, size],
            "dense_median_ms": 1e3 * statistics.median(dense),
            "sparse_median_ms": 1e3 * statistics.median(sparse),
            "median_ratio": statistics.median(sparse) / statistics.median(dense),
            "mean_ratio": statistics.fmean(sparse) / statistics.fmean(dense),
            "update_step_ms": [1e3 * t for t in updates],
            "sparsifier_ms_per_step": 1e3 * own,
            "sparsifier_share": own / statistics.median(dense)}


def memory_pass_ms(numel: int, repeats: int = 5) -> float:
    """Calibration: one in-place add over `numel` floats (how busy/fast the machine is)."""
    buffer = torch.zeros(numel)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        buffer.add_(1.0)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def bench_r3d18_update(repeats: int, sparsity: float) -> dict:
    """One topology update on torchvision r3d_18 with a dense gradient present. CPU time is
    reported beside wall time: on a shared machine it excludes time spent descheduled."""
    results = {}
    for method in ("rigl", "set"):
        torch.manual_seed(0)
        model = torchvision.models.video.r3d_18()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        cfg = SparseConfig(method=method, sparsity=sparsity, update_every=1, update_end=1.0)
        sparsifier = build_sparsifier(cfg, model, opt, context(1000))
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        times, cpu_times = [], []
        for step in range(1, repeats + 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            sparsifier.update(step)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
        masked = [t for t in sparsifier.tensors if t.mask is not None]
        weights = sum(t.numel for t in sparsifier.tensors)
        mask_bytes = sum(t.mask.numel() * t.mask.element_size() for t in masked)
        start = time.perf_counter()
        for _ in range(repeats):
            sparsifier._remask_after_optimizer_step(opt, (), {})
        remask = (time.perf_counter() - start) / repeats
        results[method] = {"update_median_s": statistics.median(times),
                           "update_cpu_median_s": statistics.median(cpu_times),
                           "update_max_s": max(times), "remask_ms": 1e3 * remask,
                           "weights": weights, "masked_weights": sum(t.numel for t in masked),
                           "mask_bytes": mask_bytes, "mask_bytes_per_weight": mask_bytes / weights}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per run (>= 100)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5, help="r3d_18 updates to time")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(args.threads)

    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {args.threads} threads, load average {load:.1f} "
          f"on {os.cpu_count()} CPUs")
    step = bench_step_time(args.steps, args.batch, args.frames, args.size)
    print(f"\nstep time, SmallResNet3d ({step['weights']:,} weights), input {step['input']}, "
          f"{step['steps']} steps, {step['updates']} RigL updates:")
    print(f"  dense {step['dense_median_ms']:.1f} ms, RigL S=0.8 {step['sparse_median_ms']:.1f} ms "
          f"(median); ratio median {step['median_ratio']:.3f}, mean {step['mean_ratio']:.3f}")
    updates = ", ".join(f"{t:.1f}" for t in step["update_step_ms"])
    print(f"  sparsifier's own time {step['sparsifier_ms_per_step']:.2f} ms/step (masking + "
          f"updates amortised) = {100 * step['sparsifier_share']:.2f}% of a dense step; "
          f"before_step at update steps: {updates} ms")
    calibration = memory_pass_ms(33_361_472)
    print(f"\ncalibration: one add_ over 33.4M floats takes {calibration:.1f} ms here")
    update = {s: bench_r3d18_update(args.repeats, s) for s in (0.5, 0.9)}
    for sparsity, by_method in update.items():
        print(f"\ntorchvision r3d_18, ERK sparsity {sparsity}:")
        for method, r in by_method.items():
            print(f"  {method}: update {r['update_median_s']:.3f} s wall, "
                  f"{r['update_cpu_median_s']:.3f} s CPU (medians of {args.repeats}; max wall "
                  f"{r['update_max_s']:.3f}); re-mask after step {r['remask_ms']:.1f} ms; "
                  f"masks {r['mask_bytes'] / 2**20:.1f} MiB = {r['mask_bytes_per_weight']:.3f} "
                  f"bytes/weight ({r['masked_weights']:,} of {r['weights']:,} weights masked)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "load_average": load, "step": step,
                       "add_33m_floats_ms": calibration, "r3d18_update": update}, f, indent=2)


if __name__ == "__main__":
    main()
