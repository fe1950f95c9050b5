"""Selecting corruptions and severities: the one grammar every command accepts.

    --corruptions  all | PRESET | FAMILY | common15 | NAME[,NAME...]   (items may be combined with ",")
    --severities   1-5 | 1,3,5 | 2 | 2-3,5                             (severities run from 1 to 5)

``all`` is every corruption of the preset; ``PRESET`` (e.g. ``mini-kinetics-c``, or an alias
such as ``hmdb51-p``) selects that whole preset and must stand alone; ``FAMILY`` is one of
``families()`` or ``frame`` (the four per-frame families); ``common15`` is the 15 corruptions
ImageNet-C / CIFAR-10-C average mCE over (an image preset's); names are corruption names.

Which preset names and families are looked up in: ``preset`` when given, else the dataset's
``default_preset``. ``one_preset=True`` (evaluation: results record one preset) keeps every
item in that preset. Otherwise (``vidsparse corrupt`` without ``--preset``) a family or a name
may come from any preset, and each selected corruption is taken from the default preset when
it has it, else left for ``apply`` to choose per input (``Selected.preset`` None).

A name the preset lacks but another preset has is reported with how to select it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from corruptions import api
from corruptions.errors import CorruptionError
from corruptions.presets import aliases

# The 15 corruptions of ImageNet-C / CIFAR-10-C that mCE averages (the 4 "extra" ones left out).
COMMON15 = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
            "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
            "jpeg_compression")
FRAME_GROUP = "frame"  # the per-frame families together

CORRUPTIONS_HELP = ("all | PRESET | FAMILY | common15 | NAME[,NAME...]: 'all' = the preset's list; a preset "
                    "(e.g. mini-kinetics-c) alone; a family (noise, blur, weather, digital, temporal, camera, "
                    "codec, or frame = the per-frame ones); common15 = the 15 common ImageNet-C/CIFAR-10-C "
                    "corruptions; or names, comma-separated ('vidsparse list corruptions')")
SEVERITIES_HELP = "1-5, 1,3,5, 2 or 2-3,5: severities from 1 to 5 (default 1-5)"


@dataclass(frozen=True)
class Selected:
    """One selected corruption; ``preset`` None = chosen per input by ``corruptions.apply``."""

    name: str
    preset: str | None


def parse_severities(text: str | None) -> list[int]:
    """``1-5``, ``1,3,5``, ``2`` or ``2-3,5`` -> sorted unique severities in 1..5 (None = 1-5)."""
    text = (text or "1-5").replace(" ", "")
    values: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise CorruptionError(f"--severities expects e.g. 1-5 or 1,3,5, got {text!r}")
        low, high = int(match[1]), int(match[2] or match[1])
        if not 1 <= low <= high <= 5:
            raise CorruptionError(f"--severities: severities run from 1 to 5 (LOW-HIGH), got {text!r}")
        values.update(range(low, high + 1))
    return sorted(values)


def canonical_preset(name: str) -> str:
    """A preset name with aliases resolved (hmdb51-p -> ucf101-p), as results record it."""
    canonical = aliases().get(name, name)
    if canonical not in api.presets():
        choices = [*api.presets(), *aliases()]
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"valid: {', '.join(sorted(choices))}"
        raise CorruptionError(f"unknown preset {name!r}; {hint}")
    return canonical


def is_preset(item: str) -> bool:
    return item in api.presets() or item in aliases()


def select(text: str | None, preset: str | None = None, default_preset: str | None = None,
           one_preset: bool = False) -> tuple[list[Selected], str | None]:
    """Resolve a ``--corruptions`` value; returns (selection in order, the preset it was made in).

    None, '' or 'none' select nothing. With ``one_preset`` the returned preset is canonical and
    every item comes from it (a lone PRESET item switches to that preset).
    """
    if preset is not None:
        preset = canonical_preset(preset) if one_preset else (canonical_preset(preset) and preset)
    scope = preset or (canonical_preset(default_preset) if one_preset and default_preset else None)
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not items or items == ["none"]:
        return [], scope
    named = [i for i in items if is_preset(i)]
    if named:
        if len(items) > 1:
            raise CorruptionError(f"--corruptions takes a preset alone (one preset per evaluation or job), got "
                                  f"{text!r}; pick names from a preset with --preset PRESET --corruptions NAME,...")
        chosen = canonical_preset(named[0]) if one_preset else named[0]
        return [Selected(n, chosen) for n in api.names(chosen)], chosen
    lookup = scope if one_preset else preset
    fallback = preset or default_preset
    default_names = set(api.names(fallback)) if fallback else set()

    def chosen(name: str) -> Selected:
        if one_preset or preset is not None:
            return Selected(name, lookup)
        return Selected(name, default_preset if name in default_names else None)

    selected: list[Selected] = []
    for item in items:
        if item == "all":
            whole = lookup or fallback
            selected += [Selected(n, whole) for n in api.names(whole)]
        elif item == "common15":
            selected += [chosen(n) for n in _common15(lookup or fallback)]
        elif item in api.families() or item == FRAME_GROUP:
            members = api.names(lookup, family=item)
            if not members:
                raise CorruptionError(f"preset {lookup} has no corruption of family {item!r}")
            selected += [chosen(n) for n in members]
        else:
            _check_name(item, lookup)
            selected.append(chosen(item))
    return list(dict.fromkeys(selected)), lookup if one_preset else preset


def _common15(preset: str | None) -> list[str]:
    available = set(api.names(preset))
    missing = [n for n in COMMON15 if n not in available]
    if missing:
        raise CorruptionError(f"common15 needs an ImageNet-C style preset; {preset} lacks {', '.join(missing)}: "
                              "add --preset imagenet-c (or cifar-c, tinyimagenet-c)")
    return list(COMMON15)


def _check_name(name: str, preset: str | None) -> None:
    """A name ``preset`` (None: any preset) does not have: say where it is, or what was meant."""
    valid = api.names(preset)
    if name in valid:
        return
    holders = [p for p in api.presets() if name in api.names(p)]
    if holders:
        raise CorruptionError(f"corruption {name!r} is not in preset {preset}; it is in {', '.join(holders)}: "
                              f"select it with --preset {holders[0]} --corruptions {name}")
    keywords = ["all", "common15", FRAME_GROUP, *api.families()]
    close = difflib.get_close_matches(name, valid + keywords, n=3, cutoff=0.5)
    where = f" in preset {preset}" if preset else ""
    hint = f"did you mean {', '.join(close)}?" if close else f"valid: {', '.join(valid + keywords)}"
    raise CorruptionError(f"unknown corruption {name!r}{where}; {hint}")
