"""``--pretrained PATH``: load local weights into a model and say exactly what happened.

Accepted files: a bare state dict (torchvision, timm), pytorchvideo's ``{"model_state": ...}``,
Lightning's ``{"state_dict": ...}`` and vidsparse run checkpoints ``{"model": ...}``. Key
prefixes added by wrappers (``module.`` from DDP, ``model.``, ``_orig_mod.`` from
torch.compile) are removed where that makes a key match. Tensors whose shape differs are
skipped, not forced: for the classifier that is the normal case of fine-tuning on a new
label set; anywhere else it means the checkpoint is for another configuration, and the
report says so. Nothing is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from vidsparse.core.checkpoint import UnsafeCheckpoint, safe_load
from vidsparse.errors import UserError

WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")
STATE_DICT_KEYS = ("model", "state_dict", "model_state", "module")
IGNORED_MISSING = ("num_batches_tracked",)  # BatchNorm counters older checkpoints lack


@dataclass
class PretrainedReport:
    path: str
    model_tensors: int = 0
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # model tensors left at their initial values
    unexpected: list[str] = field(default_factory=list)  # checkpoint tensors the model has no place for
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # (key, file, model)
    classifier: list[str] = field(default_factory=list)  # mismatched keys of the classifier (re-initialised)
    stripped: list[str] = field(default_factory=list)  # prefixes removed from checkpoint keys

    @property
    def backbone_mismatched(self) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
        return [m for m in self.mismatched if m[0] not in self.classifier]

    def format(self, limit: int = 10) -> str:
        lines = [f"pretrained {self.path}: loaded {len(self.loaded)} of {self.model_tensors} model tensors"
                 + (f" (removed key prefixes {', '.join(self.stripped)})" if self.stripped else "")]
        if self.classifier:
            lines.append(f"  classifier re-initialised (shape differs): {', '.join(self.classifier)}")
        sections = [("shape mismatch, skipped", [f"{k} file {list(a)} vs model {list(b)}"
                                                 for k, a, b in self.backbone_mismatched]),
                    ("missing from file, left at init", self.missing),
                    ("unexpected in file, ignored", self.unexpected)]
        for title, keys in sections:
            if keys:
                shown = ", ".join(keys[:limit]) + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")
                lines.append(f"  {title} ({len(keys)}): {shown}")
        return "\n".join(lines)


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a weights file, whichever of the common layouts it uses."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"pretrained weights not found: {path}; pass an existing file to --pretrained")
    try:
        # weights_only (vidsparse checkpoints' numpy RNG state allow-listed): never runs code
        obj: Any = safe_load(path)
    except UnsafeCheckpoint as err:
        raise UserError(f"pretrained weights {err}; save just its state dict "
                        "(torch.save(model.state_dict(), PATH)) where you trust the file") from None
    except Exception as err:
        raise UserError(f"pretrained weights {path} are unreadable ({type(err).__name__}); "
                        f"the file may be truncated or not a PyTorch file") from None
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping):
        for key in STATE_DICT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, nn.Module):
                inner = inner.state_dict()
            if isinstance(inner, Mapping) and inner and all(isinstance(v, Tensor) for v in inner.values()):
                return dict(inner)
        tensors = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
        if tensors:
            return tensors
    raise UserError(f"{path} holds no state dict (looked for a tensor mapping, or one under "
                    f"{', '.join(STATE_DICT_KEYS)}); pass a weights file or a vidsparse checkpoint")


def _match_key(key: str, model_keys: Mapping[str, Any]) -> tuple[str, list[str]]:
    """`key` without the wrapper prefixes that stand between it and a model key."""
    name, removed = key, []
    while name not in model_keys:
        prefix = next((p for p in WRAPPER_PREFIXES if name.startswith(p)), None)
        if prefix is None:
            return key, []
        name = name[len(prefix):]
        removed.append(prefix)
    return name, removed


def merge_split_qkv_bias(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """VideoMAE/BEiT store attention biases as ``q_bias`` and ``v_bias`` (the key bias is
    fixed at zero); our ``qkv`` layer holds them as one bias [q, 0, v]."""
    out = dict(state)
    for key in [k for k in state if k.endswith(".q_bias")]:
        base = key[: -len("q_bias")]
        v_key, qkv_key = base + "v_bias", base + "qkv.bias"
        if v_key in out and qkv_key not in out:
            q, v = out.pop(key), out.pop(v_key)
            out[qkv_key] = torch.cat([q, torch.zeros_like(q), v])
    return out


def classifier_keys(model: nn.Module) -> set[str]:
    """State-dict keys of the classifier: the last linear layer registered."""
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    return {f"{linears[-1]}.{p}" for p, _ in model.get_submodule(linears[-1]).named_parameters()} if linears else set()


def load_pretrained(model: nn.Module, path: str | Path,
                    log: Callable[[str], None] | None = print) -> PretrainedReport:
    """Load every tensor of `path` whose name and shape match `model`; report the rest.

    Raises UserError if nothing matches (the file is for another model).
    """
    state = read_state_dict(path)
    target = model.state_dict()
    state = merge_split_qkv_bias(state)
    report = PretrainedReport(str(path), model_tensors=len(target))
    stripped: set[str] = set()
    head = classifier_keys(model)
    to_load: dict[str, Tensor] = {}
    for key, value in state.items():
        name, removed = _match_key(key, target)
        stripped.update(removed)
        if name not in target:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(target[name].shape):
            report.mismatched.append((name, tuple(value.shape), tuple(target[name].shape)))
            if name in head:
                report.classifier.append(name)
        else:
            to_load[name] = value
    if not to_load:
        raise UserError(f"none of the {len(state)} tensors in {path} match {type(model).__name__} "
                        f"(e.g. {next(iter(state), '-')}); is it a checkpoint of this model and model.size?")
    model.load_state_dict(to_load, strict=False)
    seen = set(to_load) | {name for name, _, _ in report.mismatched}
    report.loaded = list(to_load)
    report.missing = [k for k in target if k not in seen and not k.endswith(IGNORED_MISSING)]
    report.stripped = sorted(stripped)
    if log is not None:
        log(report.format())
    return report
