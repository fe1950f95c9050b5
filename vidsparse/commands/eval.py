"""``vidsparse eval``: clean and corrupted accuracy of a trained run, into RUN_DIR/eval.json.

With --attack, accuracy under an FGSM or PGD attack is measured too (eval.json "adversarial").
Corrupted inputs are made on the fly from each decoded test video (default), or read from a
set written by 'vidsparse corrupt' (--corrupted-root). Finished results are reused when the
command is run again with the same settings; an interrupted (even killed) evaluation resumes.

Under torchrun (torchrun --nproc_per_node 4 -m vidsparse.cli eval --run-dir RUN_DIR ...) the
test samples are split across the processes; the numbers equal a single process's.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from corruptions.selection import CORRUPTIONS_HELP, SEVERITIES_HELP


def _radii(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--radii expects numbers such as 0,2,4,8, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"--radii expects non-negative numbers, got {text!r}")
    return values


def _fraction(text: str) -> float:
    """'8/255', '0.03' or '0' (for --eps and --step-size; ranges are checked by AttackSpec)."""
    try:
        num, _, den = text.partition("/")
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number or a fraction such as 8/255, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number such as 8/255, got {text!r}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a trained run (clean, corrupted, frequency)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", "--run-dir", dest="run", metavar="RUN_DIR",
                        help="run directory made by 'vidsparse train' (under torchrun spell it --run-dir: "
                             "torchrun takes --run for its own --run-path)")
    source.add_argument("--weights", metavar="DIR",
                        help="a folder made by 'vidsparse export' (model.safetensors + config.yaml); "
                             "its eval.json receives the results")
    parser.add_argument("--views", metavar="CLIPSxCROPS", help="test views per video, e.g. 10x3 (default: the run's)")
    parser.add_argument("--checkpoint", choices=["best", "last"], default="best")
    parser.add_argument("--device", default="auto")
    group = parser.add_argument_group("corruptions")
    group.add_argument("--corruptions", metavar="all|PRESET|FAMILY|common15|NAME,...",
                       help="what to evaluate besides clean: " + CORRUPTIONS_HELP + "; 'all' = the run's preset "
                            "(ucf101-p for video; cifar-c, tinyimagenet-c, imagenet-c for images). Default: none")
    group.add_argument("--severities", default="1-5", metavar="1-5|1,3,5", help=SEVERITIES_HELP)
    group.add_argument("--preset", help="corruption preset (default: the run's natural preset)")
    group.add_argument("--variant", choices=["fixed", "reference"], default="fixed",
                       help="corrected definitions (default) or the reference code's exact behaviour")
    group.add_argument("--seed", type=int, default=0,
                       help="corruption seed (per video, corruption, severity) and PGD random-start seed")
    group.add_argument("--coherent", action="store_true", default=None,
                       help="one random draw per video instead of per frame")
    group.add_argument("--corrupted-root", metavar="PATH",
                       help="read a set made by 'vidsparse corrupt' instead of corrupting on the fly")
    group.add_argument("--published-jpeg", action="store_true",
                       help="image runs, on the fly: save each corrupted image as JPEG (quality 85) and decode it "
                            "before the model sees it, as the published ImageNet-C / Tiny-ImageNet-C files are")
    group.add_argument("--baseline", metavar="RUN_DIR", help="evaluated run whose errors normalise CE/mCE")
    group = parser.add_argument_group("frequency analysis")
    group.add_argument("--fourier", action="store_true", help="accuracy under low-/high-pass filtering")
    group.add_argument("--radii", type=_radii, metavar="R,R,...", help="filter radii (default: 0,1,2,4,... to the corner)")
    group = parser.add_argument_group("adversarial attack (L-infinity, in [0, 1] pixel space)")
    group.add_argument("--attack", metavar="fgsm|pgd", help="also measure accuracy under this attack")
    group.add_argument("--eps", type=_fraction, default=8 / 255, metavar="EPS",
                       help="perturbation radius, e.g. 8/255 (default)")
    group.add_argument("--steps", type=int, default=10, help="PGD steps (default 10)")
    group.add_argument("--step-size", type=_fraction, default=2 / 255, metavar="ALPHA",
                       help="PGD step, e.g. 2/255 (default)")
    group.add_argument("--attack-restarts", type=int, default=1, metavar="N",
                       help="PGD random starts; per sample the strongest is kept (default 1)")
    parser.add_argument("--batch-size", type=int, help="samples per batch (default: the run's eval batch size)")
    parser.add_argument("--workers", type=int, help="decoding/corrupting worker processes (default: the run's)")
    parser.add_argument("--corrupt-on", choices=["auto", "device", "workers"], default="auto",
                        help="where on-the-fly corruptions are made: 'device' = in batches on the model's device "
                             "(encoders such as codecs and JPEG stay in the workers), 'workers' = in the CPU "
                             "workers; 'auto' (default) = device on CUDA, workers otherwise. Same numbers on the CPU")
    parser.add_argument("--shard", metavar="I/N",
                        help="without torchrun: evaluate every N-th test sample from the I-th and log the "
                             "predictions; the same command without --shard then merges the N shards into eval.json")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Under torchrun every rank runs this; only rank 0 writes files and prints."""
    from vidsparse.core.distributed import init_from_env, shutdown
    from vidsparse.core.graceful_stop import Terminated, sigterm_as_interrupt
    from vidsparse.core.device import resolve_device

    try:
        with sigterm_as_interrupt():
            world, device = init_from_env(resolve_device(args.device))
            try:
                return _evaluate(args, str(device), world.is_main)
            finally:
                shutdown()
    except Terminated as stop:
        print(f"vidsparse eval: {stop}", file=sys.stderr)
        return stop.exit_code


def _evaluate(args: argparse.Namespace, device: str, speak: bool) -> int:
    from vidsparse.core.distributed import parse_shard
    from vidsparse.data.build import parse_views
    from vidsparse.evaluation.attacks import AttackSpec
    from vidsparse.evaluation.results import format_results
    from vidsparse.evaluation.run import EvalRequest, family_map, run_eval
    from vidsparse.reporting import plots
    from vidsparse.run_dir import EXPORTED, RunDir
    from vidsparse.tracking import attach_eval

    request = EvalRequest(
        run_dir=Path(args.run or args.weights), views=parse_views(args.views),
        checkpoint=EXPORTED if args.weights else args.checkpoint, device=device,
        corruptions=args.corruptions, severities=args.severities, preset=args.preset, variant=args.variant,
        seed=args.seed, coherent=args.coherent,
        corrupted_root=Path(args.corrupted_root) if args.corrupted_root else None,
        published_jpeg=args.published_jpeg,
        baseline=Path(args.baseline) if args.baseline else None, fourier=args.fourier, radii=args.radii,
        batch_size=args.batch_size, workers=args.workers, corrupt_on=args.corrupt_on,
        attack=AttackSpec(args.attack, args.eps, args.steps, args.step_size, args.attack_restarts, args.seed)
        if args.attack else None, shard=parse_shard(args.shard),
    )
    results = run_eval(request)
    if request.shard is not None:
        return 0
    if speak and args.fourier:
        name = request.run_dir.name
        plots.radius_curves({name: results.data["fourier"]}, RunDir(request.run_dir).fourier,
                            title=f"{name}: accuracy under low-/high-pass filtering")
    if speak:
        print(format_results(results.data, family_map(results.corruptions)))
        print(f"wrote {results.path} and {RunDir(request.run_dir).eval_csv}")
        tracked = attach_eval(request.run_dir, results.data)  # the trackers the run was trained with
        if tracked:
            print(f"added the results to the run's {', '.join(tracked)} log")
    return 0
