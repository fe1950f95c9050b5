"""A labelled PNG grid of every corruption x severity (``vidsparse corrupt --preview``).

Rows are corruptions, columns the clean input and severities 1..5. For a video the whole
(first ``max_frames`` frames of the) clip is corrupted, so temporal and codec corruptions act
as they do on real data. One frame cannot show what a temporal or camera corruption does, so
those rows show a strip of frames spread over the clip (a film strip per cell, time running
left to right); the others show the middle frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

import corruptions
from corruptions.presets import IMAGE_PRESET_FOR_TABLE
from corruptions.selection import Selected
from corruptions.tables_image import table_for_size
from vidsparse.core.io import atomic_write
from vidsparse.data.image.io import IMAGE_EXTENSIONS
from vidsparse.data.registry import KIND_PRESETS
from vidsparse.data.video.decoding import VIDEO_EXTENSIONS
from vidsparse.data.video.reader import probe_video, read_video
from vidsparse.errors import UserError

SEVERITIES = (1, 2, 3, 4, 5)


def load_clip(path: Path, max_frames: int = 64) -> tuple[torch.Tensor, float | None]:
    """uint8 [T, 3, H, W] from a video (its first ``max_frames`` frames) or an image (T = 1)."""
    if not path.is_file():
        raise UserError(f"preview input not found: {path}")
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        count = probe_video(path).num_frames
        frames, fps = read_video(path, list(range(min(count, max_frames))))
        return frames.permute(0, 3, 1, 2).contiguous(), fps
    if suffix in IMAGE_EXTENSIONS:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB")).copy()
        return torch.from_numpy(array).permute(2, 0, 1)[None], None
    raise UserError(f"cannot preview {path.name}: expected a video ({', '.join(VIDEO_EXTENSIONS)}) or an image")


def is_video(path: Path) -> bool:
    return path.suffix.lower() not in IMAGE_EXTENSIONS


def default_preset(path: Path, clip: torch.Tensor) -> str:
    """Video -> the video datasets' preset (UCF101-P); image -> the (H) preset that suits its size."""
    if is_video(path):
        return KIND_PRESETS["video"]

    return IMAGE_PRESET_FOR_TABLE[table_for_size(*clip.shape[-2:])]


STRIP_FAMILIES = ("temporal", "camera")  # what they do is only visible over time


def _middle(clip: torch.Tensor) -> np.ndarray:
    return clip[clip.shape[0] // 2].permute(1, 2, 0).cpu().numpy()


def _strip(clip: torch.Tensor, frames: int) -> np.ndarray:
    """``frames`` frames evenly spread over the clip, side by side with a 2 px white gap."""
    picks = np.linspace(0, clip.shape[0] - 1, min(frames, clip.shape[0])).round().astype(int)
    tiles = [clip[int(t)].permute(1, 2, 0).cpu().numpy() for t in picks]
    gap = np.full((tiles[0].shape[0], 2, 3), 255, dtype=np.uint8)
    return np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)


def shows_strip(sel: Selected, clip: torch.Tensor, strip_frames: int) -> bool:
    """Whether ``sel`` is shown as a film strip: a temporal or camera corruption of a video."""
    return strip_frames > 1 and clip.shape[0] > 1 and corruptions.info(sel.name, sel.preset)["family"] in STRIP_FAMILIES


def render_cells(clip: torch.Tensor, selection: list[Selected], variant: str, seed: int, fps: float | None,
                 video_id: str, strip_frames: int = 1) -> list[tuple[str, list[np.ndarray | str]]]:
    """Per corruption: [clean, severity 1..5] as the middle frame, or as a strip of
    ``strip_frames`` frames for temporal and camera corruptions; a failure becomes its message."""
    rows = []
    for sel in selection:
        show = (lambda x: _strip(x, strip_frames)) if shows_strip(sel, clip, strip_frames) else _middle
        cells: list[np.ndarray | str] = [show(clip)]
        for severity in SEVERITIES:
            try:
                out = corruptions.apply(clip, sel.name, severity, seed=seed, preset=sel.preset, variant=variant,
                                        video_id=video_id, fps=fps)
                cells.append(show(out))
            except corruptions.CorruptionError as err:
                cells.append(str(err))
        rows.append((sel.name, cells))
    return rows


def draw_grid(rows: list[tuple[str, list[np.ndarray | str]]], title: str, cell: int = 128):
    first = next(c for _, cells in rows for c in cells if isinstance(c, np.ndarray))
    scale = cell / max(first.shape[:2])
    width, height = max(1, round(first.shape[1] * scale)), max(1, round(first.shape[0] * scale))
    label_w, header_h, pad = 150, 36, 4
    grid = Image.new("RGB", (label_w + len(rows[0][1]) * (width + pad), header_h + len(rows) * (height + pad)), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    draw.text((4, 4), title, fill="black", font=font)
    for col, label in enumerate(["clean", *(f"severity {s}" for s in SEVERITIES)]):
        draw.text((label_w + col * (width + pad) + 4, 20), label, fill="black", font=font)
    for row, (name, cells) in enumerate(rows):
        top = header_h + row * (height + pad)
        draw.text((4, top + height // 2 - 6), name, fill="black", font=font)
        for col, content in enumerate(cells):
            left = label_w + col * (width + pad)
            if isinstance(content, np.ndarray):
                grid.paste(Image.fromarray(content).resize((width, height), Image.BILINEAR), (left, top))
            else:
                draw.rectangle((left, top, left + width - 1, top + height - 1), outline="red")
                draw.text((left + 3, top + 3), "n/a", fill="red", font=font)
    return grid


def draw_strips(rows: list[tuple[str, list[np.ndarray | str]]], title: str, height: int = 54):
    """One line per corruption x (clean, severity 1..5), each a film strip ``height`` px high."""
    first = next(c for _, cells in rows for c in cells if isinstance(c, np.ndarray))
    width = max(1, round(first.shape[1] * height / first.shape[0]))
    label_w, header_h, pad, gap = 230, 22, 2, 10
    lines = len(rows) * (len(SEVERITIES) + 1)
    grid = Image.new("RGB", (label_w + width, header_h + lines * (height + pad) + len(rows) * gap), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    draw.text((4, 4), title, fill="black", font=font)
    top = header_h
    for name, cells in rows:
        for label, content in zip(["clean", *(f"severity {s}" for s in SEVERITIES)], cells):
            draw.text((4, top + height // 2 - 6), f"{name}  {label}" if label == "clean" else f"    {label}",
                      fill="black", font=font)
            if isinstance(content, np.ndarray):
                scaled = round(content.shape[1] * height / content.shape[0])
                grid.paste(Image.fromarray(content).resize((min(scaled, width), height), Image.BILINEAR), (label_w, top))
            else:
                draw.text((label_w + 3, top + 3), "n/a: " + content[:80], fill="red", font=font)
            top += height + pad
        top += gap
    return grid


def strip_path(out: Path) -> Path:
    """Where the film strips of temporal and camera corruptions go, beside the grid."""
    return out.with_name(f"{out.stem}-over-time{out.suffix}")


def preview(source: Path, out: Path, selection: list[Selected] | None = None, *, preset: str | None = None,
            variant: str = "fixed", seed: int = 0, cell: int = 128, strip_frames: int = 8) -> list[Path]:
    """Write the grid for ``source`` to ``out`` (PNG), and for a video the film strips of its
    temporal and camera corruptions to :func:`strip_path`; return the paths written."""
    clip, fps = load_clip(source)
    if selection is None:
        chosen = preset or default_preset(source, clip)
        selection = [Selected(n, chosen) for n in corruptions.names(chosen)]
    title = f"{source.name}: {clip.shape[0]} frame(s) {clip.shape[-1]}x{clip.shape[-2]}, variant {variant}, seed {seed}"
    rows = render_cells(clip, selection, variant, seed, fps, source.name, strip_frames)
    is_strip = [shows_strip(sel, clip, strip_frames) for sel in selection]  # rows follow the selection
    strips = [row for row, flag in zip(rows, is_strip) if flag]
    frames = [row for row, flag in zip(rows, is_strip) if not flag]
    written = []
    if frames:
        grid = draw_grid(frames, title + " (middle frame)", cell)
        written.append(atomic_write(out, lambda tmp: grid.save(tmp, format="PNG")))
    if strips:
        film = draw_strips(strips, title + f" ({strip_frames} frames over time, left to right)")
        target = strip_path(out) if frames else out
        written.append(atomic_write(target, lambda tmp: film.save(tmp, format="PNG")))
    return written
