"""Linear filters shared by the frame-level corruptions.

Every separable filter is applied as two small matrix products, ``rows @ x @ cols.T``. On a
CPU a banded (H x H) product through BLAS is 10-20x faster than a depthwise convolution, the
border rule of the reference (scipy's 'nearest' / 'reflect', OpenCV's reflect-101) is folded
into the matrix once, and kernels wider than the image (elastic's sigma of 171 px on a 224 px
image) need no special case. Non-separable kernels (the defocus disk) go through the FFT.

Border names follow scipy.ndimage: ``nearest`` (a a | a b c | c c), ``reflect``
(b a | a b c | c b) and ``mirror`` (c b | a b c | b a, OpenCV's default BORDER_REFLECT_101).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

BORDERS = ("nearest", "reflect", "mirror")


def fold_index(index: torch.Tensor, size: int, border: str) -> torch.Tensor:
    """Map any integer positions (also far outside [0, size)) to in-image positions."""
    if border == "nearest" or size == 1:
        return index.clamp(0, size - 1)
    if border == "reflect":
        index = index.remainder(2 * size)
        return torch.where(index >= size, 2 * size - 1 - index, index)
    if border == "mirror":
        index = index.remainder(2 * size - 2)
        return torch.where(index >= size, 2 * size - 2 - index, index)
    raise ValueError(f"unknown border {border!r}; use one of {BORDERS}")


_TORCH_PAD = {"nearest": "replicate", "mirror": "reflect"}  # torch's names for the same borders


def pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int, border: str) -> torch.Tensor:
    """Pad the last two dims by any amount under ``border``.

    torch's own padding is used where it applies (it is much faster than gathering); scipy's
    'reflect' and pads wider than the frame go through the folded index.
    """
    height, width = x.shape[-2:]
    mode = _TORCH_PAD.get(border)
    if mode and (mode == "replicate" or max(top, bottom) < height and max(left, right) < width):
        flat = x.reshape(-1, 1, height, width)
        padded = torch.nn.functional.pad(flat, (left, right, top, bottom), mode=mode)
        return padded.view(*x.shape[:-2], *padded.shape[-2:])
    cols = fold_index(torch.arange(-left, width + right, device=x.device), width, border)
    rows = fold_index(torch.arange(-top, height + bottom, device=x.device), height, border)
    return x.index_select(-1, cols).index_select(-2, rows)  # the narrow gather first


@lru_cache(maxsize=256)
def filter_matrix(size: int, taps: tuple[float, ...], border: str, device: torch.device) -> torch.Tensor:
    """(size x size) matrix of the centred 1-D correlation with ``taps`` under ``border``."""
    radius = len(taps) // 2
    positions = torch.arange(size)[:, None] + torch.arange(-radius, radius + 1)[None, :]
    weights = torch.tensor(taps, dtype=torch.float64).expand(size, -1)
    matrix = torch.zeros(size, size, dtype=torch.float64)
    matrix.scatter_add_(1, fold_index(positions, size, border), weights)
    return matrix.to(device=device, dtype=torch.float32)


def separable(x: torch.Tensor, rows: torch.Tensor | None, cols: torch.Tensor | None) -> torch.Tensor:
    """``rows @ x @ cols.T`` over the last two dims; None skips that axis."""
    if cols is not None:
        x = torch.matmul(x, cols.T)
    if rows is not None:
        x = torch.matmul(rows, x)
    return x


def gaussian_taps(sigma: float, truncate: float) -> tuple[float, ...]:
    """scipy.ndimage's Gaussian: radius int(truncate * sigma + 0.5), weights summing to 1."""
    radius = int(truncate * sigma + 0.5)
    weights = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-radius, radius + 1)]
    total = sum(weights)
    return tuple(w / total for w in weights)


def gaussian_filter(x: torch.Tensor, sigma: float, border: str = "nearest", truncate: float = 4.0) -> torch.Tensor:
    """skimage.filters.gaussian over the last two dims (its defaults: 'nearest', truncate 4)."""
    if sigma <= 0:
        return x
    taps = gaussian_taps(float(sigma), truncate)
    height, width = x.shape[-2:]
    return separable(x, filter_matrix(height, taps, border, x.device), filter_matrix(width, taps, border, x.device))


def box_filter(x: torch.Tensor, size: int = 3, border: str = "mirror") -> torch.Tensor:
    """OpenCV's ``cv2.blur`` (normalised box, reflect-101 border)."""
    taps = (1.0 / size,) * size
    height, width = x.shape[-2:]
    return separable(x, filter_matrix(height, taps, border, x.device), filter_matrix(width, taps, border, x.device))


def disk_kernel(radius: float, alias_blur: float) -> torch.Tensor:
    """The defocus kernel of Hendrycks et al.: a normalised disk, anti-aliased by a small Gaussian.

    Like the reference, the disk lives on a 17x17 grid for radius <= 8 (blurred 3x3) and on a
    (2r+1)^2 grid above (blurred 5x5, OpenCV's reflect-101 border). Returned on the CPU in
    float64 with all-zero outer rings removed, so the FFT that applies it stays small.
    """
    half, ksize = (8, 3) if radius <= 8 else (int(radius), 5)
    grid = torch.arange(-half, half + 1, dtype=torch.float64)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius**2).to(torch.float64)
    disk /= disk.sum()
    centre = (ksize - 1) / 2
    weights = [math.exp(-((i - centre) ** 2) / (2 * alias_blur**2)) for i in range(ksize)]
    taps = tuple(w / sum(weights) for w in weights)
    blur = filter_matrix(disk.shape[0], taps, "mirror", torch.device("cpu")).double()
    kernel = blur @ disk @ blur.T
    while kernel.shape[0] > 1 and not kernel[0].any() and not kernel[:, 0].any():
        kernel = kernel[1:-1, 1:-1]
    return kernel


def _fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n: FFT lengths with small prime factors are the fast ones."""
    size = n
    while True:
        m = size
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return size
        size += 1


def filter2d(x: torch.Tensor, kernel: torch.Tensor, border: str = "mirror") -> torch.Tensor:
    """OpenCV's ``cv2.filter2D`` (correlation with an odd 2-D kernel) through the FFT.

    The frame is padded by the kernel radius under ``border`` (and further, to a fast FFT
    length); the circular wrap-around then only touches rows and columns that are cropped.
    """
    kh, kw = kernel.shape
    height, width = x.shape[-2:]
    size = (_fft_size(height + kh - 1), _fft_size(width + kw - 1))
    padded = pad(x, kh // 2, size[0] - height - kh // 2, kw // 2, size[1] - width - kw // 2, border)
    flipped = torch.zeros(size, dtype=x.dtype, device=x.device)
    flipped[:kh, :kw] = kernel.flip(0, 1).to(device=x.device, dtype=x.dtype)
    spectrum = torch.fft.rfft2(padded) * torch.fft.rfft2(flipped)
    return torch.fft.irfft2(spectrum, s=size)[..., kh - 1 : kh - 1 + height, kw - 1 : kw - 1 + width]


def line_taps(radius: int, sigma: float, angle: float) -> list[tuple[int, int, float]]:
    """(dy, dx, weight) taps of the motion-blur line kernel at ``angle`` degrees.

    The kernel of ImageMagick's MotionBlurImage (used by Hendrycks et al.; imagecorruptions
    re-implements it): 2r+1 one-sided Gaussian weights along the direction of ``angle``,
    rounded to whole pixels. Taps landing on the same pixel are merged.
    """
    width = 2 * int(radius) + 1
    weights = [math.exp(-(i**2) / (2 * sigma**2)) for i in range(width)]
    total = sum(weights)
    sin, cos = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    merged: dict[tuple[int, int], float] = {}
    for i, weight in enumerate(weights):
        offset = (math.ceil(i * sin - 0.5), math.ceil(i * cos - 0.5))
        merged[offset] = merged.get(offset, 0.0) + weight / total
    return [(dy, dx, w) for (dy, dx), w in merged.items()]


def line_blur(x: torch.Tensor, radius: int, sigma: float, angles: list[float]) -> torch.Tensor:
    """Motion-blur frame t of ``x`` [T, C, H, W] along ``angles[t]`` (one angle: all frames).

    out[y, x] = sum_i w_i * in[y + dy_i, x + dx_i], edges replicated. Shifted views of one
    padded tensor are accumulated, so the cost is one multiply-add per tap and pixel.
    """
    taps = [line_taps(radius, sigma, a) for a in angles]
    dys = [dy for frame in taps for dy, _, _ in frame]
    dxs = [dx for frame in taps for _, dx, _ in frame]
    top, left = max(0, -min(dys)), max(0, -min(dxs))
    padded = pad(x, top, max(0, max(dys)), left, max(0, max(dxs)), "nearest")
    height, width = x.shape[-2:]
    out = torch.zeros_like(x)
    frames = [slice(None)] if len(angles) == 1 else [slice(t, t + 1) for t in range(len(angles))]
    for frame, frame_taps in zip(frames, taps):
        for dy, dx, weight in frame_taps:
            window = padded[frame, :, top + dy : top + dy + height, left + dx : left + dx + width]
            out[frame].add_(window, alpha=weight)
    return out
