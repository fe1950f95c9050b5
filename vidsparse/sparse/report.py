"""The per-layer sparsity table: one dict (for sparsity.json) and its text rendering."""

from __future__ import annotations

from torch import nn

from vidsparse.sparse.targets import SparseTensor


def layer_table(tensors: list[SparseTensor], model: nn.Module) -> dict:
    """Per-layer rows plus totals over the maskable weights and over the whole model."""
    layers = [{"name": t.name, "shape": list(t.shape), "params": t.numel,
               "density": t.active / t.numel, "active": t.active, "kept_dense": t.dense}
              for t in tensors]
    params = sum(row["params"] for row in layers)
    active = sum(row["active"] for row in layers)
    model_params = sum(p.numel() for p in model.parameters())
    model_active = model_params - (params - active)
    return {
        "layers": layers,
        "total": {"params": params, "active": active,
                  "density": active / params if params else 1.0},
        "model": {"params": model_params, "active": model_active,
                  "density": model_active / model_params if model_params else 1.0},
    }


def format_table(report: dict) -> str:
    """Fixed-width text table for the run log."""
    rows = [(row["name"] + (" (dense)" if row["kept_dense"] else ""),
             "x".join(map(str, row["shape"])), f"{row['params']:,}", f"{row['density']:.4f}",
             f"{row['active']:,}") for row in report["layers"]]
    head = ("layer", "shape", "params", "density", "active")
    total, model = report["total"], report["model"]
    foot = [("total (maskable)", "", f"{total['params']:,}", f"{total['density']:.4f}",
             f"{total['active']:,}"),
            ("model (all params)", "", f"{model['params']:,}", f"{model['density']:.4f}",
             f"{model['active']:,}")]
    widths = [max(len(r[i]) for r in [head, *rows, *foot]) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "-" * len(line(head))
    title = f"sparse method {report['method']}: sparsity {report['sparsity']}"
    if report.get("distribution"):
        title += f", distribution {report['distribution']}"
    text = [title, line(head), rule, *map(line, rows), rule, *map(line, foot)]
    flops = report.get("flops")
    if flops:
        text.append(f"forward FLOPs per sample: {flops['sparse_forward']:.4g} sparse / "
                    f"{flops['dense_forward']:.4g} dense (ratio {flops['forward_ratio']:.3f})")
    return "\n".join(text)
