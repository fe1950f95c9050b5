"""Weather corruptions: snow, frost, fog, spatter (Hendrycks et al.) and rain (Yi et al.).

Every function takes a clip x [T, 3, H, W] in [0, 1], one severity's parameter, and a
torch.Generator. By default each frame gets its own snow, frost crop, fog, spatter and rain
layer, as when the references corrupt frames one by one; coherent=True draws one layer for
the whole clip (Yi et al.'s fog: one fractal per clip).
"""

from __future__ import annotations

from typing import Callable

import torch

from corruptions import _edges, _filters, _frost, _random
from corruptions._frost import frost_source
from corruptions._resample import clipped_zoom
from corruptions.registry import FRAME

__all__ = ["snow", "frost", "fog", "spatter", "rain", "frost_source", "FUNCTIONS"]


def _grey(x: torch.Tensor) -> torch.Tensor:
    """OpenCV's RGB -> grey, [T, 1, H, W]."""
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def snow(x: torch.Tensor, param: tuple, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Falling snow: zoomed, thresholded Gaussian flakes, motion-blurred downwards.

    ``param`` = (loc, scale, zoom, threshold, blur radius, blur sigma, blend); the flakes are
    added twice (the layer and its 180-degree rotation) over a brightened, washed-out frame.
    """
    loc, scale, zoom, threshold, radius, sigma, blend = param
    flakes = _random.normal(_random.field_shape(x, coherent, channels=1), generator, float(loc), float(scale))
    flakes = clipped_zoom(flakes, float(zoom))
    flakes = torch.where(flakes < threshold, 0.0, flakes).clamp_(0, 1)
    angles = _random.uniform((flakes.shape[0],), generator, -135.0, -45.0, dtype=torch.float64)
    flakes = _filters.line_blur(flakes, int(radius), float(sigma), angles.tolist())
    washed = torch.lerp(torch.maximum(x, _grey(x) * 1.5 + 0.5), x, float(blend))
    return washed.add_(flakes + flakes.flip(-2, -1)).clamp_(0, 1)


def frost(x: torch.Tensor, param: tuple, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Frosted lens: image_weight * x + frost_weight * a random crop of a frost photograph.

    ``param`` = (image weight, frost weight, photo scale); see ``frost_source()``.
    """
    image_weight, frost_weight, scale = param
    count, (height, width) = _random.draws(x, coherent), x.shape[-2:]
    choice = _random.integers(0, _frost.texture_count(), (count,), generator).tolist()
    corners = _random.uniform((count, 2), generator, dtype=torch.float64).tolist()
    crops = []
    for index, (u, v) in zip(choice, corners):
        photo = _frost.texture(index, float(scale), height, width, x.device)
        top, left = int(u * (photo.shape[1] - height)), int(v * (photo.shape[2] - width))
        crops.append(photo[:, top : top + height, left : left + width])
    return torch.add(x * float(image_weight), torch.stack(crops), alpha=float(frost_weight)).clamp_(0, 1)


def fog(x: torch.Tensor, param: tuple, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Fog: a plasma-fractal haze added, then the frame rescaled to its previous peak.

    ``param`` = (strength, wibble decay); the fractal covers the next power of two >= the frame.
    """
    strength, decay = float(param[0]), float(param[1])
    height, width = x.shape[-2:]
    size = _random.next_power_of_two(max(height, width))
    haze = _random.plasma_fractal(_random.draws(x, coherent), size, decay, generator)[:, None, :height, :width]
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return ((x + strength * haze) * (peak / (peak + strength))).clamp_(0, 1)


# --- spatter ------------------------------------------------------------------------------------

_WATER = torch.tensor([175, 238, 238]) / 255  # pale turquoise (RGB)
_MUD = torch.tensor([63, 42, 20]) / 255


def _water_drops(liquid: torch.Tensor) -> torch.Tensor:
    """Shading of water drops in [0, 1] from the thresholded liquid layer [N, 1, H, W].

    The reference's OpenCV pipeline: 8-bit liquid map -> Canny edges -> distance to the nearest
    edge (capped at 20) -> 3x3 mean -> histogram equalisation -> emboss -> 3x3 mean; the
    product with the liquid map, normalised to its peak.
    """
    level = (liquid[:, 0] * 255).floor_().clamp_(0, 255)
    distance = _edges.distance_to(_edges.canny(level, 50, 150), cap=20)
    distance = _filters.box_filter(distance).floor_()
    shade = _filters.box_filter(_edges.emboss(_edges.equalize_hist(distance))).round_()
    drops = (level * shade)[:, None]
    peak = drops.amax(dim=(2, 3), keepdim=True)
    return torch.where(peak > 0, drops / peak.clamp_min(1e-12), 0.0)


def spatter(x: torch.Tensor, param: tuple, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Water drops or mud splashes on the lens.

    ``param`` = (loc, scale, sigma, threshold, strength, mode): a blurred Gaussian layer is
    thresholded into drops; mode 0 adds embossed turquoise water (strength = opacity), mode 1
    pastes brown mud (strength = blur of the mud mask).
    """
    loc, scale, sigma, threshold, strength, mode = param
    liquid = _random.normal(_random.field_shape(x, coherent, channels=1), generator, float(loc), float(scale))
    liquid = _filters.gaussian_filter(liquid, float(sigma))
    liquid = torch.where(liquid < threshold, 0.0, liquid)
    if int(mode) == 0:
        drops = _water_drops(liquid) * float(strength)
        return (x + drops * _WATER.to(x.device)[:, None, None]).clamp_(0, 1)
    mud = _filters.gaussian_filter((liquid > threshold).to(x.dtype), float(strength))
    mud = torch.where(mud < 0.8, 0.0, mud)
    return torch.lerp(x, _MUD.to(x.device)[:, None, None], mud).clamp_(0, 1)


# --- rain ---------------------------------------------------------------------------------------

_STREAK_GREY = 220 / 255
_DRAWN_SLANT = -1  # the reference draws every streak with slant -1 (its random slant only moves x)


def _streak_mask(count: int, height: int, width: int, drops: int, length: int,
                 generator: torch.Generator) -> torch.Tensor:
    """{0, 1} masks [count, 1, H, W] of ``drops`` one-pixel streaks ``length`` px long.

    As the reference: a slant in [-10, 10) per frame sets the range of the streak starts,
    starts are uniform, and each streak runs from (x, y) to (x - 1, y + length). Streaks
    longer than the frame start at the top and are cut at the bottom (the reference fails).
    """
    device = generator.device
    slant = _random.integers(-10, 10, (count, 1), generator)
    low = slant.clamp(max=0)
    high = torch.where(slant < 0, width, width - slant)
    x0 = low + (_random.uniform((count, drops), generator) * (high - low)).long()
    y0 = _random.integers(0, max(height - length, 1), (count, drops), generator)
    k = torch.arange(length + 1, device=device)
    xs = x0[..., None] + torch.floor(0.5 + k * _DRAWN_SLANT / length).long()
    ys = y0[..., None] + k
    frame = torch.arange(count, device=device)[:, None, None].expand_as(xs)
    inside = (xs >= 0) & (xs < width) & (ys < height)
    mask = torch.zeros(count, height, width, device=device)
    mask[frame[inside], ys[inside], xs[inside]] = 1.0
    return mask[:, None]


def rain(x: torch.Tensor, param: tuple, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Yi et al.'s rain: grey streaks redrawn every frame, blurred, then the contrast lowered.

    ``param`` = (pixels per drop, streak length, darken): H * W // pixels-per-drop streaks of
    width 1 and grey 220; streak pixels show a 3x3-blurred, brightened frame; finally
    (x - mean) * darken + mean per channel.
    """
    per_drop, length, darken = int(param[0]), int(param[1]), float(param[2])
    height, width = x.shape[-2:]
    streaks = _STREAK_GREY * _streak_mask(_random.draws(x, coherent), height, width, height * width // per_drop,
                                          length, generator)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    brightened = x + streaks * (1 - x) * (1 - mean)
    rainy = _filters.box_filter(brightened) * streaks + x * (1 - streaks)
    channel_mean = rainy.mean(dim=(2, 3), keepdim=True)
    return ((rainy - channel_mean) * darken + channel_mean).clamp_(0, 1)


FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "snow": snow,
    "frost": frost,
    "fog": fog,
    "spatter": spatter,
    "rain": rain,
}

SCOPE = dict.fromkeys(FUNCTIONS, FRAME)  # a layer per frame
