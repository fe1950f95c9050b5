"""``vidsparse list models|methods|corruptions|datasets``."""

from __future__ import annotations

import argparse
from typing import Callable

from vidsparse.core.tables import format_table


def _models() -> str:
    from vidsparse.models import MODELS
    from vidsparse.models.stats import model_table

    rows, missing = [], []
    for r in model_table():
        entry = MODELS[r.name]
        if r.gflops is None:
            missing.append(r.name)
        shape = f"{r.frames}x{r.size}" if entry.is_video else f"{r.size}px"
        rows.append([r.name, r.family, shape, f"{r.params / 1e6:.2f}", "-" if r.gflops is None else f"{r.gflops:.2f}",
                     f"{r.maskable / 1e6:.2f} ({r.maskable_share:.1%})", entry.description])
    table = format_table(["model", "family", "input", "params (M)", "GFLOPs", "masked (M, share)", "description"], rows)
    notes = ["GFLOPs: one clip at the standard input, 1 multiply-add = 1 FLOP (fvcore); "
             "add -tiny to a name (or --set model.size=tiny) for the CPU-test configuration"]
    if missing:
        notes.append(f"GFLOPs not cached for {', '.join(missing)}: run 'python scripts/gen_models_doc.py'")
    return table + "\n\n" + "\n".join(notes)


def _methods() -> str:
    from vidsparse.sparse import list_methods

    return format_table(["method", "description"], [list(m) for m in list_methods()])


def _corruptions() -> str:
    import corruptions

    rows = [[name, corruptions.info(name)["family"], ", ".join(corruptions.info(name)["presets"])]
            for name in corruptions.names()]
    return format_table(["corruption", "family", "presets"], rows)


def _datasets() -> str:
    from vidsparse.data.registry import DATASETS

    return format_table(["dataset", "kind", "description"], [[d.name, d.kind, d.description] for d in DATASETS.values()])


LISTERS: dict[str, Callable[[], str]] = {
    "models": _models, "methods": _methods, "corruptions": _corruptions, "datasets": _datasets,
}


def register(subparsers) -> None:
    parser = subparsers.add_parser("list", help="list models, methods, corruptions or datasets", description=__doc__)
    parser.add_argument("what", choices=list(LISTERS))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(LISTERS[args.what]())
    return 0
