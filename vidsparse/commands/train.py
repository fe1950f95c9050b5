"""``vidsparse train``: resolve the config (recipe < --config < flags < --set) and train."""

from __future__ import annotations

import argparse
import sys

from vidsparse.config import build_config, load_run_config, parse_set_arguments, set_dotted
from vidsparse.run_dir import RunDir

# CLI flag -> dotted config key. Flags left unset (None) do not override the recipe.
FLAG_KEYS = {
    "dataset": "data.dataset",
    "data_root": "data.root",
    "split": "data.split",
    "workers": "data.workers",
    "subset": "data.subset",
    "scores": "data.scores",
    "model": "model.name",
    "pretrained": "model.pretrained",
    "method": "sparse.method",
    "sparsity": "sparse.sparsity",
    "distribution": "sparse.distribution",
    "grow": "sparse.grow",
    "regrow_momentum": "sparse.regrow_momentum",
    "init_from": "sparse.init_from",
    "rounds": "sparse.rounds",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "optim.lr",
    "optimizer": "optim.name",
    "seed": "train.seed",
    "deterministic": "train.deterministic",
    "device": "train.device",
    "out": "train.out",
    "checkpoint_every": "train.checkpoint_every_steps",
    "log": "train.log",
}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by commands that build a run config (train, sweep, hardness, ...)."""
    add = parser.add_argument
    add("--config", metavar="FILE.yaml", help="recipe file; flags and --set override it")
    add("--dataset", help="synthetic (default), ucf101, hmdb51, folder, list; see 'vidsparse list datasets'")
    add("--data-root", metavar="PATH", help="dataset location (synthetic: generated there, default: cache)")
    add("--split", type=int, help="official split 1-3 (UCF101/HMDB51)")
    add("--workers", type=int, help="data loader worker processes")
    add("--subset", metavar="RULE:F", help="train on a subset: el2n-top:0.5, el2n-bottom:0.5 or random:0.3")
    add("--scores", metavar="EL2N.json", help="hardness scores from 'vidsparse hardness' (for el2n-* subsets)")
    add("--model", help="model name; see 'vidsparse list models'")
    add("--pretrained", metavar="PATH", help="local checkpoint to start from")
    add("--method", help="dense, static, set, rigl, mest, granet, snip, gmp, omp, lth")
    add("--sparsity", type=float,
        help="overall fraction of zero weights in [0, 1); default 0.5 for every sparse method (the top "
             "of the 0.1-0.5 range of the DST robustness study; half the weights removed), 0 for dense")
    add("--distribution", help="layer-wise density: uniform, er, erk")
    add("--grow", choices=["random", "gradient"], help="regrow rule for set/mest/granet")
    add("--regrow-momentum", choices=["zero", "keep"], help="optimizer state of regrown weights")
    add("--init-from", metavar="RUN_DIR", help="omp: trained dense run to prune")
    add("--rounds", type=int,
        help="lth: pruning rounds K (default 3); as published (IMP), every round trains the full --epochs "
             "schedule from the rewound weights, so lth costs K trainings (K x --epochs epochs); "
             "--set sparse.lth_schedule=split divides --epochs among the rounds instead")
    add("--epochs", type=int)
    add("--batch-size", type=int)
    add("--lr", type=float, help="peak learning rate")
    add("--optimizer", help="sgd or adamw")
    add("--seed", type=int)
    add("--deterministic", action="store_true", default=None,
        help="deterministic kernels (cuDNN/cuBLAS): identical reruns, possibly slower on GPU")
    add("--device", help="auto (default), cpu, cuda, cuda:N")
    add("--out", metavar="RUN_DIR", help="run directory (default runs/<dataset>-<model>-<method>-s<S>)")
    add("--set", action="append", metavar="KEY=VALUE", default=[],
        help="override any config key, e.g. --set optim.weight_decay=1e-4 (repeatable)")


def config_from_args(args: argparse.Namespace):
    from vidsparse.data.registry import dataset_defaults

    flags = {key: getattr(args, name, None) for name, key in FLAG_KEYS.items()}
    cfg = build_config(args.config, flags, args.set, dataset_defaults=dataset_defaults)
    if getattr(args, "resume", False) and RunDir(cfg.run_dir()).config.is_file():
        # Resume continues the saved run; only options given now (e.g. more --epochs) change it.
        saved = load_run_config(cfg.run_dir())
        saved.train.out = str(cfg.run_dir())
        for key, value in flags.items():
            if value is not None:
                set_dotted(saved, key, value)
        for key, value in parse_set_arguments(args.set):
            set_dotted(saved, key, value)
        cfg = saved
    return cfg


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a model densely or sparsely",
        description="Train a model. With no flags: the small 3D CNN, densely, on the synthetic videos.",
    )
    add_config_arguments(parser)
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from last.pt (mid-epoch if it was saved there)")
    parser.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                        help="also save last.pt every STEPS optimizer steps (default: at epoch ends only)")
    parser.add_argument("--log", metavar="BACKENDS",
                        help="experiment trackers, comma-separated: csv (always: scalars.csv), tensorboard, wandb, "
                             "mlflow (default: csv; --set train.log_every=N steps between points)")
    parser.add_argument("--download", action="store_true",
                        help="cifar10/cifar100: download the dataset into --data-root first if it is missing")
    parser.set_defaults(func=run)


def check_download(data) -> None:
    """``--download``: only the CIFAR archives are public and small enough to fetch here."""
    from vidsparse.data.image.readers import CIFAR
    from vidsparse.errors import UserError

    if data.dataset not in CIFAR:
        raise UserError(f"--download supports {', '.join(sorted(CIFAR))}; get {data.dataset} manually")
    if not data.root:
        raise UserError("--download needs --data-root PATH (where to put the dataset)")


def download_dataset(cfg) -> None:
    """The download itself; ``train`` runs it one rank at a time per filesystem under torchrun."""
    from vidsparse.data.image.readers import download_cifar

    download_cifar(cfg.data.dataset, cfg.data.root)


def run(args: argparse.Namespace) -> int:
    """Under torchrun every rank runs this; only rank 0 prints."""
    from vidsparse.core.distributed import current_world
    from vidsparse.core.graceful_stop import TrainingInterrupted
    from vidsparse.training.loop import train

    cfg = config_from_args(args)
    if args.download:
        check_download(cfg.data)
    try:
        result = train(cfg, resume=args.resume, prepare=download_dataset if args.download else None)
    except TrainingInterrupted as stop:
        if current_world().is_main:
            print(stop, file=sys.stderr)
        return stop.exit_code
    if current_world().is_main:
        print(f"best test top-1 {result.best_top1:.4f}; run directory: {result.run_dir}")
    return 0
