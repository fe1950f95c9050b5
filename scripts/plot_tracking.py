"""Plot a run's tracked scalars from its TensorBoard event files (``vidsparse train --log tensorboard``).

    python scripts/plot_tracking.py RUN_DIR --out docs/images/tracking.png

Four panels: loss per logged step, train/test accuracy per epoch, overall and per-layer density
after each topology update, and mask churn with the drop fraction in force. It reads the events
back with TensorBoard's own EventAccumulator, so it shows exactly what TensorBoard shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from vidsparse.run_dir import RunDir  # noqa: E402


def series(events: EventAccumulator, tag: str) -> tuple[list[int], list[float]]:
    points = events.Scalars(tag) if tag in events.Tags()["scalars"] else []
    return [p.step for p in points], [p.value for p in points]


def plot(run_dir: Path, out: Path) -> None:
    events = EventAccumulator(str(RunDir(run_dir).tensorboard), size_guidance={"scalars": 0})
    events.Reload()
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    axes[0].plot(*series(events, "train/loss"), lw=1)
    axes[0].set(title="train/loss (per logged step)", xlabel="step")
    for tag in ("epoch/train_acc", "epoch/test_top1"):
        axes[1].plot(*series(events, tag), marker="o", label=tag)
    axes[1].set(title="accuracy per epoch", xlabel="step", ylim=(0, 1))
    axes[1].legend(fontsize=8)
    for tag in sorted(t for t in events.Tags()["scalars"] if t.startswith("sparse/layer_density/")):
        axes[2].plot(*series(events, tag), lw=0.8, alpha=0.6, drawstyle="steps-post")
    axes[2].plot(*series(events, "sparse/density"), lw=2.5, color="black", label="overall", drawstyle="steps-post")
    axes[2].set(title="density after each update (thin: per layer)", xlabel="step", ylim=(0, 1.05))
    axes[2].legend(fontsize=8)
    axes[3].plot(*series(events, "sparse/mask_churn"), marker=".", label="mask churn")
    axes[3].plot(*series(events, "sparse/drop_fraction"), label="drop fraction")
    axes[3].set(title="topology updates", xlabel="step")
    axes[3].legend(fontsize=8)
    fig.suptitle(f"{run_dir.name}: scalars read back from {RunDir.TENSORBOARD}/")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("tracking.png"))
    args = parser.parse_args()
    plot(args.run_dir, args.out)


if __name__ == "__main__":
    main()
