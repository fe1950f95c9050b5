"""A sparse model as one safetensors file: each masked weight stored as its kept values plus a
bit-packed mask, every other tensor as is.

Why this layout: safetensors holds only plain tensors (no code, so loading a stranger's file
is safe), and a mask costs one bit per weight instead of the 32 a zero does. At density d a
float32 weight takes ``32 * d + 1`` bits per entry, so the file shrinks about 9x at 90%
sparsity and never grows beyond 1/32 at density 1.

Keys: ``NAME`` for an unmasked tensor; ``NAME.__values__`` (the kept entries in row-major order)
and ``NAME.__mask__`` (uint8, ``numpy.packbits`` of the flattened mask) for a masked one. The
file's metadata carries the masked tensors' shapes and a JSON blob of run facts (classes,
epoch) so that the file alone rebuilds the state dict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor

from vidsparse.core.io import atomic_write
from vidsparse.errors import UserError

VALUES, MASK = ".__values__", ".__mask__"
FORMAT = "vidsparse-packed-1"


@dataclass(frozen=True)
class PackedSize:
    """Bytes of the tensor payload, packed against the same state dict stored densely."""

    packed: int
    dense: int

    @property
    def ratio(self) -> float:
        return self.packed / self.dense if self.dense else 1.0


def pack_mask(mask: Tensor) -> Tensor:
    return torch.from_numpy(np.packbits(mask.detach().cpu().numpy().astype(bool).reshape(-1)))


def unpack_mask(bits: Tensor, shape: tuple[int, ...]) -> Tensor:
    count = int(np.prod(shape)) if shape else 1
    flat = np.unpackbits(bits.numpy(), count=count).astype(bool)
    return torch.from_numpy(flat).reshape(shape)


def pack_state_dict(state: dict[str, Tensor], masks: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, list[int]]]:
    """(tensors for safetensors, shapes of the masked ones). A mask without its weight in
    ``state`` is a mismatch between checkpoint and sparsifier: refused."""
    unknown = sorted(set(masks) - set(state))
    if unknown:
        raise UserError(f"masks for tensors the model does not have: {', '.join(unknown[:3])}")
    tensors: dict[str, Tensor] = {}
    shapes: dict[str, list[int]] = {}
    for name, value in state.items():
        value = value.detach().cpu()
        if name in masks:
            mask = masks[name].detach().cpu().bool()
            tensors[name + VALUES] = value[mask].contiguous()
            tensors[name + MASK] = pack_mask(mask)
            shapes[name] = list(value.shape)
        else:
            tensors[name] = value.contiguous()
    return tensors, shapes


def unpack_state_dict(tensors: dict[str, Tensor], shapes: dict[str, list[int]]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(state dict with zeros outside the masks, masks) from ``pack_state_dict``'s output."""
    state: dict[str, Tensor] = {}
    masks: dict[str, Tensor] = {}
    for key, value in tensors.items():
        if key.endswith(MASK):
            continue
        if key.endswith(VALUES):
            name = key[: -len(VALUES)]
            if name not in shapes or name + MASK not in tensors:
                raise UserError(f"packed tensor {name} lacks its mask or shape; the file is damaged")
            mask = unpack_mask(tensors[name + MASK], tuple(shapes[name]))
            if int(mask.sum()) != value.numel():
                raise UserError(f"packed tensor {name}: {value.numel()} values for {int(mask.sum())} mask entries")
            dense = torch.zeros(mask.shape, dtype=value.dtype)
            dense[mask] = value
            state[name], masks[name] = dense, mask
        else:
            state[key] = value
    return state, masks


def payload_bytes(tensors: dict[str, Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


def save_packed(path: str | Path, state: dict[str, Tensor], masks: dict[str, Tensor],
                info: dict[str, Any]) -> PackedSize:
    """Write ``model.safetensors``; ``info`` (JSON-able run facts) goes into its metadata."""
    tensors, shapes = pack_state_dict(state, masks)
    metadata = {"format": "pt", "vidsparse": FORMAT, "shapes": json.dumps(shapes), "info": json.dumps(info)}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    return PackedSize(payload_bytes(tensors), payload_bytes({k: v for k, v in state.items()}))


def load_packed(path: str | Path, device: torch.device | str = "cpu") -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Any]]:
    """(state dict, masks, info) of a file ``save_packed`` wrote; one-line errors otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"exported weights not found: {path}; make them with 'vidsparse export RUN_DIR --out DIR'")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{path} is not a readable safetensors file ({str(err).splitlines()[0]})") from None
    if metadata.get("vidsparse") != FORMAT:
        raise UserError(f"{path} was not written by 'vidsparse export' (metadata vidsparse={metadata.get('vidsparse')!r})")
    state, masks = unpack_state_dict(tensors, json.loads(metadata["shapes"]))
    return {k: v.to(device) for k, v in state.items()}, masks, json.loads(metadata.get("info", "{}"))
