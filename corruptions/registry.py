"""Function registry: function key -> (family, callable), gathered from the family modules.

Each family lives in its own module that exports ``FUNCTIONS: dict[str, Callable]`` with the
package-wide contract::

    fn(x: float32 [T, C, H, W] in [0, 1], param, generator, *, coherent=False) -> same layout

(codec functions also accept ``fps=``). The family of a function is the module it lives in.
A module may list in ``HOST_ONLY`` the functions that compute on the CPU whatever the input's
device (they encode with CPU libraries), so that callers keep them in CPU workers, and in
``UINT8`` kernels that take and return uint8 frames and equal, bit for bit, the function on
``frames / 255`` rounded back to uint8 (they skip float passes the result does not need).
A module may also declare ``SCOPE: dict[str, str]``, how far each function looks (``FRAME``,
``SHARED``, ``CAUSAL``, ``CLIP`` below); undeclared functions are ``CLIP``, which is always safe.
Presets (``corruptions.presets``) map display names to these keys; this module knows nothing
about presets or severities. Modules are imported on first use, so a broken or missing family
module only affects its own corruptions, with an error that says which module failed.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from functools import cache
from typing import Any, Callable

from corruptions.errors import CorruptionError

FAMILIES: tuple[str, ...] = ("noise", "blur", "weather", "digital", "temporal", "camera", "codec")
GROUPS: dict[str, tuple[str, ...]] = {"frame": ("noise", "blur", "weather", "digital")}

# What output frame t depends on. It decides whether a caller that needs a few frames (the test
# views of an evaluation) can have just those frames computed, and how randomness is seeded.
FRAME = "frame"  # input frame t and random draws of its own (non-coherent: one generator per frame)
SHARED = "shared"  # input frame t and draws shared by the whole clip, if any (one per clip, or none)
CAUSAL = "causal"  # input frames 0..t only (codecs without B-frames or look-ahead): a prefix suffices
CLIP = "clip"  # later frames too (temporal order, most codecs, frame-rate changes): the whole clip
SCOPES = (FRAME, SHARED, CAUSAL, CLIP)


@dataclass(frozen=True)
class Function:
    key: str
    family: str
    fn: Callable[..., Any]
    accepts_fps: bool  # codec functions take the source frame rate
    min_size: int  # smallest frame side the function supports
    output_fps: Callable[[Any, float], float] | None = None  # when the function changes the rate
    scope: str = CLIP  # FRAME, SHARED, CAUSAL or CLIP
    index_plan: Callable[..., Any] | None = None  # (T, param, generator) -> frame indices, for reorderings
    host_only: bool = False  # computes on the CPU whatever the input's device (encoders: codecs, JPEG)
    uint8_fn: Callable[..., Any] | None = None  # the same corruption on uint8 frames in one shorter pass

    def scope_for(self, coherent: bool) -> str:
        """The scope of one call: a coherent call draws once for the clip, so FRAME becomes SHARED."""
        return SHARED if coherent and self.scope == FRAME else self.scope


@cache
def _load(family: str) -> tuple[dict[str, Function], str | None]:
    """Import one family module; return its functions, or the import error as text."""
    try:
        module = importlib.import_module(f"corruptions.{family}")
    except Exception as err:  # the module is missing or broken: report it where it is needed
        return {}, f"{type(err).__name__}: {err}"
    min_sizes: dict[str, int] = getattr(module, "MIN_SIZE", {})
    output_fps: dict[str, Callable] = getattr(module, "OUTPUT_FPS", {})
    scopes: dict[str, str] = getattr(module, "SCOPE", {})
    host_only: set[str] = set(getattr(module, "HOST_ONLY", ()))
    uint8_fns: dict[str, Callable] = getattr(module, "UINT8", {})
    if unknown := {k: v for k, v in scopes.items() if v not in SCOPES or k not in module.FUNCTIONS}:
        return {}, f"corruptions.{family}.SCOPE has unknown functions or scopes: {unknown}"
    functions = {
        key: Function(
            key=key,
            family=family,
            fn=fn,
            accepts_fps="fps" in inspect.signature(fn).parameters,
            min_size=int(min_sizes.get(key, 1)),
            output_fps=output_fps.get(key),
            scope=scopes.get(key, CLIP),
            index_plan=getattr(fn, "plan", None),
            host_only=key in host_only,
            uint8_fn=uint8_fns.get(key),
        )
        for key, fn in module.FUNCTIONS.items()
    }
    return functions, None


def functions() -> dict[str, Function]:
    """Every function of every family module that imports."""
    merged: dict[str, Function] = {}
    for family in FAMILIES:
        merged.update(_load(family)[0])
    return merged


def get_function(key: str) -> Function:
    everything = functions()
    if key in everything:
        return everything[key]
    broken = {family: error for family in FAMILIES if (error := _load(family)[1])}
    detail = "; ".join(f"corruptions.{f} failed to import ({e})" for f, e in broken.items())
    raise CorruptionError(f"corruption function {key!r} is not available" + (f": {detail}" if detail else ""))


def family_members(family: str) -> tuple[str, ...]:
    """The families a family-or-group name stands for (``frame`` = the four per-frame ones)."""
    if family in GROUPS:
        return GROUPS[family]
    if family in FAMILIES:
        return (family,)
    raise CorruptionError(f"unknown family {family!r}; valid: {', '.join((*FAMILIES, *GROUPS))}")
