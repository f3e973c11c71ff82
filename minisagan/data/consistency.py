"""The exact checker of mirror shapes: do the two twins of each image agree in colour and mirrored place?

`consistency(images)` finds the object in each half of every image, compares the twins' colours and
centroids, and reports a per-image verdict and the batch's score (the fraction whose twins agree).
On real data the score is 1.00; with the right halves swapped or recoloured it is 0.00. It is the
long-range measure the book reports beside FID: a generator that paints a plausible object on each
side but lets the two disagree scores low.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from .shapes import BASE

@dataclass
class ConsistencyReport:
    """Per-image verdicts of `consistency` for a batch of B images. Lengths in px at 32x32.

    has_pair [B] bool: both halves hold one object of plausible area.
    colour_gap [B]: largest channel difference between the twins' mean colours, in [0, 1] units.
    offset_px [B]: distance between the left centroid and the mirrored right centroid.
    mirror_error [B]: mean |image - mirror| over the union of foregrounds, in [0, 1] units.
    consistent [B] bool: has_pair and colour_gap < tol_colour and offset_px < tol_offset.
    left_colour, right_colour [B, 3]: mean foreground colour of each half, in [0, 1].
    left_centre, right_centre [B, 2]: foreground centroid (x, y) of each half, in full-image
        coordinates (px at 32x32, pixel centres at 0.5, 1.5, ...); the mirror of x is 32 - x.
    left_area, right_area [B]: foreground area of each half, px^2 at 32x32.
    colour_gap and offset_px are NaN where has_pair is False (there is nothing to compare).
    """

    has_pair: Tensor
    colour_gap: Tensor
    offset_px: Tensor
    mirror_error: Tensor
    consistent: Tensor
    left_colour: Tensor
    right_colour: Tensor
    left_centre: Tensor
    right_centre: Tensor
    left_area: Tensor
    right_area: Tensor

    @property
    def score(self) -> float:
        """Fraction of images whose twins agree, in [0, 1]."""
        return self.consistent.float().mean().item()


def consistency(images: Tensor, *, threshold: float = 0.2, tol_colour: float = 0.1,
                tol_offset: float = 1.5, min_area: float = 8.0, max_area: float = 200.0,
                border: int = 2) -> ConsistencyReport:
    """Do the objects in the left and right halves of each image agree in colour and mirrored place?

    images: [B, 3, S, S], float in [-1, 1] or uint8 in [0, 255]; S even.
    threshold: a pixel is foreground when some channel differs from its row's background by more
        than this ([0, 1] units); real objects differ by at least 0.45.
    tol_colour, tol_offset: largest colour gap ([0, 1] units) and offset (px at 32x32) that still
        count as agreement; a random pair of real objects misses them almost always.
    min_area, max_area: plausible object area per half, px^2 at 32x32 (real objects: about 20 to 100).
    border: columns at each side used to estimate the background; real objects never reach them.
    """
    x = _to_unit_range(images)  # [B, 3, S, S] in [0, 1]
    S = x.shape[-1]
    per_32 = BASE / S
    left, right = x[..., : S // 2], x[..., S // 2:]
    left_mask = _foreground(left, left[..., :border], threshold)  # [B, S, S/2]
    right_mask = _foreground(right, right[..., -border:], threshold)
    left_area, left_x, left_y, left_colour = _moments(left, left_mask, x_offset=0)
    right_area, right_x, right_y, right_colour = _moments(right, right_mask, x_offset=S // 2)

    areas = torch.stack([left_area, right_area]) * per_32**2  # [2, B]
    has_pair = ((areas >= min_area) & (areas <= max_area)).all(0)
    nan = torch.tensor(float("nan"))
    colour_gap = torch.where(has_pair, (left_colour - right_colour).abs().amax(1), nan)
    # The mirror of pixel-centre coordinate x is S - x.
    offset = torch.hypot(left_x - (S - right_x), left_y - right_y) * per_32
    offset_px = torch.where(has_pair, offset, nan)

    union = torch.cat([left_mask, right_mask], dim=-1)
    union = (union | union.flip(-1))[:, None].float()  # [B, 1, S, S]
    mirror_error = ((x - x.flip(-1)).abs() * union).sum((1, 2, 3)) / (3 * union.sum((1, 2, 3))).clamp(min=1)

    return ConsistencyReport(
        has_pair=has_pair,
        colour_gap=colour_gap,
        offset_px=offset_px,
        mirror_error=mirror_error,
        consistent=has_pair & (colour_gap < tol_colour) & (offset_px < tol_offset),
        left_colour=left_colour,
        right_colour=right_colour,
        left_centre=torch.stack([left_x, left_y], dim=1) * per_32,
        right_centre=torch.stack([right_x, right_y], dim=1) * per_32,
        left_area=areas[0],
        right_area=areas[1],
    )


def _to_unit_range(images: Tensor) -> Tensor:
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor [B, 3, S, S], got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape [batch, 3, height, width], got {list(images.shape)}")
    B, _, H, W = images.shape
    if B == 0 or H != W or W % 2 or W < 8:
        raise ValueError(f"images must be a non-empty batch of square images with an even side >= 8, "
                         f"got shape {list(images.shape)}")
    images = images.detach().cpu()  # a generator's output may live on a GPU; the checker is cheap
    if images.dtype == torch.uint8:
        return images.float() / 255
    if not images.is_floating_point():
        raise ValueError(f"images must be float in [-1, 1] or uint8 in [0, 255], got dtype {images.dtype}")
    images = images.float()
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinity")
    low, high = images.min().item(), images.max().item()
    if low < -1.5 or high > 1.5:
        raise ValueError(f"float images must be in [-1, 1], got values in [{low:.3g}, {high:.3g}]; "
                         "scale [0, 255] images with x / 127.5 - 1, or pass them as uint8")
    return (images.clamp(-1, 1) + 1) / 2


def _foreground(half: Tensor, border_columns: Tensor, threshold: float) -> Tensor:
    """half [B, 3, S, W], border_columns [B, 3, S, k] -> mask [B, S, W] of pixels off the background."""
    background = border_columns.mean(-1, keepdim=True)  # [B, 3, S, 1], one colour per row
    return (half - background).abs().amax(1) > threshold


def _moments(half: Tensor, mask: Tensor, x_offset: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Area [B] (px^2), centroid x, y [B] (px, pixel centres, full-image x) and mean colour [B, 3]."""
    _, _, S, W = half.shape
    weight = mask.float()
    area = weight.sum((1, 2))
    safe_area = area.clamp(min=1)  # an empty half gives zeros, which has_pair then rejects
    xs = torch.arange(W) + 0.5 + x_offset
    ys = torch.arange(S) + 0.5
    centre_x = (weight * xs).sum((1, 2)) / safe_area
    centre_y = (weight * ys[:, None]).sum((1, 2)) / safe_area
    colour = (half * weight[:, None]).sum((2, 3)) / safe_area[:, None]
    return area, centre_x, centre_y, colour
