"""The built-in synthetic action dataset: real H.264 videos written in the UCF101 layout.

Each class is a motion (left/right/up/down translation, clockwise/anticlockwise rotation,
growing/shrinking) of a randomly textured, asymmetric object over a random textured
background, at a random speed and starting state. Start states are drawn so that any single
frame is compatible with both classes of a pair, so a model must use temporal order to tell
them apart (a single-frame model is near chance within each pair).

The files are generated once per configuration into a cache directory (or ``--data-root``)
and read back with the UCF101 reader, so the synthetic set exercises the real pipeline.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from vidsparse.data.video.writer import write_video
from vidsparse.errors import UserError


@dataclass(frozen=True)
class Motion:
    """Per-frame object state as a function of normalised time t in [0, 1]."""

    name: str
    dx: float = 0.0  # total displacement in object-free frame fraction units (sign = direction)
    dy: float = 0.0
    spin: float = 0.0  # +1 clockwise, -1 anticlockwise
    zoom: float = 0.0  # +1 grow, -1 shrink


CLASSES: tuple[Motion, ...] = (
    Motion("MoveLeft", dx=-1),
    Motion("MoveRight", dx=1),
    Motion("MoveUp", dy=-1),
    Motion("MoveDown", dy=1),
    Motion("RotateClockwise", spin=1),
    Motion("RotateAnticlockwise", spin=-1),
    Motion("Grow", zoom=1),
    Motion("Shrink", zoom=-1),
)


def _smooth_texture(gen: torch.Generator, size: int, channels: int = 3, cells: int = 4) -> torch.Tensor:
    """Random colourful low-frequency texture in [0, 1], shape [C, size, size]."""
    coarse = torch.rand(1, channels, cells, cells, generator=gen)
    fine = torch.rand(1, channels, cells * 4, cells * 4, generator=gen) * 0.35
    tex = F.interpolate(coarse, size=size, mode="bicubic", align_corners=False)
    tex = tex + F.interpolate(fine, size=size, mode="bilinear", align_corners=False)
    tex = (tex - tex.amin()) / (tex.amax() - tex.amin() + 1e-6)
    return tex[0]


def _random_hue(gen: torch.Generator) -> torch.Tensor:
    """A saturated RGB colour [3, 1, 1]: one channel high, one low, one random."""
    order = torch.randperm(3, generator=gen)
    colour = torch.empty(3)
    colour[order[0]], colour[order[1]], colour[order[2]] = 0.95, 0.05, float(torch.rand((), generator=gen))
    return colour.view(3, 1, 1)


def _object_sprite(gen: torch.Generator, size: int) -> torch.Tensor:
    """RGBA sprite [4, size, size]: a striped, saturated ellipse with a contrasting 'head' disc,
    asymmetric under rotation and flips so spin direction is visible."""
    colour = _random_hue(gen)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    stripes = 0.75 + 0.25 * torch.sign(torch.sin(xs * 6 + float(torch.rand((), generator=gen)) * 6))
    body = colour * stripes
    alpha = ((xs / 0.95) ** 2 + (ys / 0.55) ** 2 <= 1).float()
    head = ((xs - 0.5) ** 2 + (ys + 0.1) ** 2 <= 0.2).float()
    body = body * (1 - head) + head * (1 - colour)
    alpha = torch.clamp(alpha + head, 0, 1)
    return torch.cat([body.clamp(0, 1), alpha[None]], 0)


def render_video(label: int, frames: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Render one video of class ``label`` as uint8 [T, H, W, 3]."""
    motion = CLASSES[label]
    sprite = _object_sprite(gen, 32)
    # Low-contrast textured background so the object, not the backdrop, carries the signal.
    background = 0.25 * _smooth_texture(gen, size, cells=3) + 0.3 * torch.rand(3, 1, 1, generator=gen) + 0.2
    bg_drift = (torch.rand(2, generator=gen) - 0.5) * 0.1  # slow background pan, unrelated to class

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=gen))

    scale = uniform(0.3, 0.4)  # object half-size as a fraction of the frame
    travel = uniform(0.7, 1.0)  # distance covered by translations (frame fraction)
    spin_total = uniform(0.8, 1.4) * math.pi
    zoom_ratio = uniform(1.7, 2.3)
    angle0 = uniform(-math.pi, math.pi)
    # Start states symmetric between paired classes: a frame alone cannot tell the direction.
    cx0, cy0 = uniform(-0.25, 0.25), uniform(-0.25, 0.25)
    margin = 1 - scale
    if motion.dx:
        cx0 = uniform(-margin, margin - travel) if motion.dx > 0 else uniform(-margin + travel, margin)
    if motion.dy:
        cy0 = uniform(-margin, margin - travel) if motion.dy > 0 else uniform(-margin + travel, margin)
    if motion.zoom:
        scale = uniform(0.2, 0.28)

    t = torch.linspace(0, 1, frames)
    cx = cx0 + motion.dx * travel * t
    cy = cy0 + motion.dy * travel * t
    angle = angle0 + motion.spin * spin_total * t
    if motion.zoom > 0:
        s = scale * zoom_ratio ** t
    elif motion.zoom < 0:
        s = scale * zoom_ratio ** (1 - t)
    else:
        s = torch.full_like(t, scale)

    # Inverse affine map from frame coordinates to sprite coordinates, for grid_sample.
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(frames, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos / s, sin / s
    theta[:, 1, 0], theta[:, 1, 1] = -sin / s, cos / s
    theta[:, 0, 2] = -(cos * cx + sin * cy) / s
    theta[:, 1, 2] = -(-sin * cx + cos * cy) / s
    grid = F.affine_grid(theta, [frames, 4, size, size], align_corners=False)
    layer = F.grid_sample(sprite.expand(frames, -1, -1, -1), grid, align_corners=False)

    shifts = (bg_drift[None] * t[:, None] * size).round().long()
    bg = torch.stack([torch.roll(background, (int(dy), int(dx)), (1, 2)) for dx, dy in shifts])
    alpha = layer[:, 3:4]
    video = alpha * layer[:, :3] + (1 - alpha) * bg
    video = video + 0.02 * torch.randn(video.shape, generator=gen)
    return (video.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


# Bump when the rendering changes so cached datasets made by older code are regenerated.
GENERATOR_VERSION = 4  # 4: libx264 assembly capped at AVX2, so the encoded videos repeat on AVX-512 CPUs


def _identity(cfg) -> dict:
    return {**asdict(cfg), "generator_version": GENERATOR_VERSION}


def config_fingerprint(cfg) -> str:
    return hashlib.sha1(json.dumps(_identity(cfg), sort_keys=True).encode()).hexdigest()[:10]


def default_root(cfg) -> Path:
    """Cache location: $VIDSPARSE_CACHE, else $XDG_CACHE_HOME/vidsparse, else ~/.cache/vidsparse."""
    base = os.environ.get("VIDSPARSE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vidsparse"
    )
    return Path(base) / f"synthetic-{config_fingerprint(cfg)}"


def _split_assignment(index: int, train_per_class: int, test_per_class: int, split: int) -> str:
    """Splits 1-3 rotate which block of each class's videos is the test set (as UCF101's groups do)."""
    total = train_per_class + test_per_class
    start = ((split - 1) * test_per_class) % total
    return "test" if (index - start) % total < test_per_class else "train"


def ensure_synthetic(root: str | os.PathLike | None, cfg, progress: Callable | None = None) -> Path:
    """Create the synthetic dataset at ``root`` (or the cache) unless it is already complete.

    Generation is deterministic for ``cfg.seed`` and atomic: it writes into a temporary
    folder and renames it, so an interrupted generation is redone from scratch next time.
    """
    if cfg.classes > len(CLASSES) or cfg.classes < 2:
        raise UserError(f"synthetic.classes must be in 2..{len(CLASSES)}, got {cfg.classes}")
    explicit = root is not None
    root = Path(root) if root else default_root(cfg)
    marker = root / ".synthetic.json"
    if marker.is_file():
        made_with = json.loads(marker.read_text())
        if made_with == _identity(cfg):
            return root
        if explicit:  # never delete a user's folder behind their back
            changed = sorted(k for k in _identity(cfg) if made_with.get(k) != _identity(cfg)[k])
            raise UserError(
                f"{root} holds a synthetic dataset made with other settings ({', '.join(changed)}); "
                "pass a new --data-root or delete the folder"
            )
    if root.exists() and any(root.iterdir()) and not marker.is_file():
        raise UserError(f"{root} exists and is not a synthetic dataset; pick an empty --data-root")
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "ucfTrainTestlist").mkdir(parents=True)
    classes = CLASSES[: cfg.classes]
    per_class = cfg.train_per_class + cfg.test_per_class
    lists: dict[tuple[str, int], list[str]] = {}
    items = [(label, i) for label in range(len(classes)) for i in range(per_class)]
    iterator = progress(items, desc="synthetic videos") if progress else items
    for label, i in iterator:
        name = classes[label].name
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + label * 10_007 + i)
        frames = render_video(label, cfg.frames, cfg.size, gen)
        rel = f"{name}/v_{name}_g{i + 1:02d}_c01.mp4"
        write_video(tmp / rel, frames, cfg.fps, options={"crf": "12", "preset": "veryfast"})
        for split in (1, 2, 3):
            part = _split_assignment(i, cfg.train_per_class, cfg.test_per_class, split)
            line = f"{rel} {label + 1}" if part == "train" else rel
            lists.setdefault((part, split), []).append(line)
    (tmp / "ucfTrainTestlist" / "classInd.txt").write_text(
        "".join(f"{k + 1} {m.name}\n" for k, m in enumerate(classes))
    )
    for (part, split), lines in lists.items():
        (tmp / "ucfTrainTestlist" / f"{part}list{split:02d}.txt").write_text("\n".join(lines) + "\n")
    (tmp / ".synthetic.json").write_text(json.dumps(_identity(cfg)))
    if marker.is_file() and json.loads(marker.read_text()) == _identity(cfg):
        shutil.rmtree(tmp)  # another process (e.g. a parallel sweep) finished the same set first: keep theirs
        return root
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, root)
    return root
