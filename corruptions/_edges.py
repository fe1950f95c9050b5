"""The OpenCV image-analysis steps of the water-spatter corruption, in torch.

Hendrycks et al. shape their water drops with cv2.Canny, cv2.distanceTransform and
cv2.equalizeHist on an 8-bit map. These helpers redo those steps on float tensors holding
integer values 0..255, batched over the leading dimension [N, H, W].
"""

from __future__ import annotations

import torch

from corruptions._filters import pad

_TAN_22_5 = 13573  # OpenCV's tan(22.5 deg) * 2**15, so the direction tests stay integer-exact


def _sobel(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """3x3 Sobel derivatives with a replicated border (as cv2.Canny computes them)."""
    p = pad(image, 1, 1, 1, 1, "nearest")
    rows = p[..., :-2, :] + 2 * p[..., 1:-1, :] + p[..., 2:, :]
    cols = p[..., :, :-2] + 2 * p[..., :, 1:-1] + p[..., :, 2:]
    return rows[..., 2:] - rows[..., :-2], cols[..., 2:, :] - cols[..., :-2, :]


def canny(image: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """cv2.Canny(image, low, high) with the L1 gradient: a boolean edge map [N, H, W].

    Non-maximum suppression along the quantised gradient direction (OpenCV's tie rules), then
    hysteresis: weak pixels (> low) become edges when 8-connected to strong ones (> high).
    """
    gx, gy = (g.round().to(torch.int64) for g in _sobel(image))
    magnitude = gx.abs() + gy.abs()
    m = torch.nn.functional.pad(magnitude, (1, 1, 1, 1))  # zero magnitude outside the image

    def neighbour(dy: int, dx: int) -> torch.Tensor:
        height, width = magnitude.shape[-2:]
        return m[..., 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    ax, ay = gx.abs(), gy.abs() << 15
    tg22 = ax * _TAN_22_5
    horizontal = ay < tg22
    vertical = ~horizontal & (ay > tg22 + (ax << 16))
    s = torch.where((gx ^ gy) < 0, -1, 1)
    maximum = torch.where(
        horizontal, (magnitude > neighbour(0, -1)) & (magnitude >= neighbour(0, 1)),
        torch.where(vertical, (magnitude > neighbour(-1, 0)) & (magnitude >= neighbour(1, 0)),
                    torch.where(s < 0, (magnitude > neighbour(-1, 1)) & (magnitude > neighbour(1, -1)),
                                (magnitude > neighbour(-1, -1)) & (magnitude > neighbour(1, 1)))))
    candidate = maximum & (magnitude > int(low))
    edges = candidate & (magnitude > int(high))
    while True:
        grown = candidate & _dilate(edges)
        if torch.equal(grown, edges):
            return edges
        edges = grown


def _dilate(mask: torch.Tensor) -> torch.Tensor:
    """3x3 binary dilation of [N, H, W] (separable: a row pass, then a column pass)."""
    p = torch.nn.functional.pad(mask, (1, 1, 1, 1))
    rows = p[..., :, :-2] | p[..., :, 1:-1] | p[..., :, 2:]
    return rows[..., :-2, :] | rows[..., 1:-1, :] | rows[..., 2:, :]


def distance_to(mask: torch.Tensor, cap: int) -> torch.Tensor:
    """Euclidean distance of every pixel to the nearest True pixel of ``mask`` [N, H, W], capped.

    What cv2.distanceTransform + THRESH_TRUNC compute (OpenCV approximates the Euclidean
    distance with a 5x5 chamfer mask; this is exact). A row pass finds the horizontal distance,
    a column pass minimises g(y + k)^2 + k^2 over |k| <= cap.
    """
    height, width = mask.shape[-2:]
    big = height + width + cap
    cols = torch.arange(width, device=mask.device).expand_as(mask)
    before = torch.where(mask, cols, -big).cummax(dim=-1).values
    after = torch.where(mask, cols, 2 * big).flip(-1).cummin(dim=-1).values.flip(-1)
    row = torch.minimum(cols - before, after - cols).clamp_(max=cap + 1).float()
    padded = torch.nn.functional.pad(row, (0, 0, cap, cap), value=float(cap + 1))
    best = row.square()
    for k in range(1, cap + 1):
        for shifted in (padded[..., cap + k : cap + k + height, :], padded[..., cap - k : cap - k + height, :]):
            best = torch.minimum(best, shifted.square() + k * k)
    return best.sqrt_().clamp_(max=cap)


def equalize_hist(image: torch.Tensor) -> torch.Tensor:
    """cv2.equalizeHist of integer-valued [N, H, W] images (values 0..255)."""
    values = image.flatten(1).long()
    total = values.shape[1]
    hist = torch.zeros(values.shape[0], 256, dtype=torch.int64, device=image.device)
    hist.scatter_add_(1, values, torch.ones_like(values))
    first = (hist > 0).to(torch.int8).argmax(dim=1, keepdim=True)
    first_count = hist.gather(1, first)
    cumulative = hist.cumsum(1)
    scale = 255.0 / (total - first_count).clamp_min(1).float()
    lut = ((cumulative - cumulative.gather(1, first)).float() * scale).round_().clamp_(0, 255)
    lut = torch.where(first_count == total, first.float(), lut)
    return lut.gather(1, values).view_as(image)


def emboss(image: torch.Tensor) -> torch.Tensor:
    """cv2.filter2D(image, CV_8U, [[-2,-1,0],[-1,1,1],[0,1,2]]): reflect-101 border, saturated."""
    kernel = ((-2, -1, 0), (-1, 1, 1), (0, 1, 2))
    p = pad(image, 1, 1, 1, 1, "mirror")
    height, width = image.shape[-2:]
    out = torch.zeros_like(image)
    for dy, row in enumerate(kernel):
        for dx, weight in enumerate(row):
            if weight:
                out += weight * p[..., dy : dy + height, dx : dx + width]
    return out.clamp_(0, 255)
