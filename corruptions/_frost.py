"""Frost textures: the reference's frost photographs when installed, a procedural stand-in if not.

Hendrycks et al. blend crops of frost photographs into the image. The `imagecorruptions`
package ships them; we read them from its installed folder (never copying them into this
repository), decode them once, and keep scaled copies per device. Without the package, five
procedural ice textures (cloudy plasma plus needle-like crystals, tinted pale blue, generated
with a fixed seed) take their place, and ``frost_source()`` says so.
"""

from __future__ import annotations

import importlib.util
import math
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from corruptions._filters import gaussian_filter
from corruptions._random import plasma_fractal

# The reference picks np.random.randint(5): frost6 ships with the photos but is never used.
PHOTOS = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")


def _photo_folder() -> Path | None:
    spec = importlib.util.find_spec("imagecorruptions")  # locate without importing (cv2, numba)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "frost"
    return folder if all((folder / name).is_file() for name in PHOTOS) else None


def _procedural_texture(seed: int, height: int = 480, width: int = 720) -> torch.Tensor:
    """A uint8 [3, H, W] ice texture: plasma-fractal haze plus thin bright crystal needles."""
    generator = torch.Generator().manual_seed(seed)
    haze = plasma_fractal(1, 1024, 1.6, generator)[0, :height, :width]
    count, steps = 4000, 64
    start = torch.rand(count, 2, generator=generator) * torch.tensor([height, width])
    angle = torch.rand(count, generator=generator) * math.pi
    length = 4 + torch.rand(count, generator=generator) ** 2 * 40
    t = torch.linspace(0, 1, steps)[None, :] * length[:, None]
    ys = (start[:, :1] + t * torch.sin(angle)[:, None]).long().clamp(0, height - 1)
    xs = (start[:, 1:] + t * torch.cos(angle)[:, None]).long().clamp(0, width - 1)
    needles = torch.zeros(height * width).index_put_(((ys * width + xs).flatten(),), torch.ones(ys.numel()),
                                                     accumulate=True).view(height, width)
    needles = gaussian_filter(needles.clamp(max=2.0), 0.7)
    ice = 0.6 * haze + 0.4 * needles / needles.quantile(0.99).clamp_min(1e-6)
    ice = ((ice - ice.mean()) / ice.std() * 0.15 + 0.62).clamp(0, 1)
    tint = torch.tensor([0.82, 0.92, 1.0])[:, None, None]
    return (ice[None] * tint * 255).round().to(torch.uint8)


def _read_photo(path: Path) -> torch.Tensor:
    """uint8 [3, H, W] through PyAV's image decoders (torchvision's libpng clashes with the
    zlib that decord bundles once decord is loaded in the same process)."""
    import av  # optional: PyAV (heavy); only frost photographs from a video need it

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    return torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).contiguous()


@lru_cache(maxsize=1)
def _textures() -> tuple[tuple[torch.Tensor, ...], str]:
    folder = _photo_folder()
    if folder is None:
        return tuple(_procedural_texture(seed) for seed in range(len(PHOTOS))), "procedural"
    photos = tuple(_read_photo(folder / name) for name in PHOTOS)
    return photos, "imagecorruptions:" + ",".join(PHOTOS)


def frost_source() -> str:
    """Where the frost textures come from: "imagecorruptions:<files>" or "procedural"."""
    return _textures()[1]


@lru_cache(maxsize=64)
def _scaled(index: int, scale: float, device: torch.device) -> torch.Tensor:
    texture = _textures()[0][index].to(device=device, dtype=torch.float32) / 255
    if scale == 1.0:
        return texture
    size = (round(texture.shape[1] * scale), round(texture.shape[2] * scale))
    return F.interpolate(texture[None], size=size, mode="bilinear", align_corners=False)[0].clamp_(0, 1)


def texture_count() -> int:
    return len(_textures()[0])


def texture(index: int, scale: float, height: int, width: int, device: torch.device) -> torch.Tensor:
    """Texture ``index`` [3, h, w] in [0, 1], resized by ``scale`` (the reference's cv2.resize
    factor) or more, so that it is larger than a height x width frame in both directions."""
    _, th, tw = _textures()[0][index].shape
    needed = max(scale, (height + 1) / th, (width + 1) / tw)
    return _scaled(index, round(needed, 6), device)
