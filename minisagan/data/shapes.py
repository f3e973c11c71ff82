"""Mirror shapes: built-in, class-conditional training data in which far-apart pixels must agree.

Each image is a dark background with two bright twins: one object in the left half and its exact
mirror image in the right half. The class (one of `SHAPE_NAMES`) fixes the object's shape; its
position, size and colour are random. A generator that paints a plausible object on each side but
forgets that the two must share colour and mirrored position has missed the long-range structure,
and `consistency` measures exactly that. A convolution only sees a few pixels at a time, so agreement
between objects 12 or more pixels apart must travel through many layers; self-attention links them
in one step. That gap is what the book shows on a CPU.

The scene, in pixels at 32x32 (everything scales by resolution / 32, so item i is the same scene at
32, 64 and 128):

- background: a colour with each channel in [0.05, 0.25], plus a vertical gradient in [-0.05, 0.05]
  from top to bottom (the same in every column, so left-right symmetric); channels stay in [0, 0.3].
- object: radius (half-extent) in [4, 5.5] px, drawn in the left half at least `MARGIN` = 2 px from
  the image border and from the centre line, so the twins' centres are at least 12 px apart.
  Colour: HSV with saturation in [0.6, 1] and value in [0.75, 1], so some channel is at least 0.45
  above the background.
- right half: `torch.flip` of the left half, so every image equals its mirror exactly.

Objects are drawn from signed distance functions (SDFs, negative inside), anti-aliased by turning the
distance into coverage over one pixel: alpha = clamp(0.5 - sdf_px, 0, 1).

Item i depends only on (seed, i, resolution): its random numbers come from a torch generator seeded
with (i + seed * 0x9E3779B9) mod 2**32, and its label is i % 10, so classes are balanced and any
access order gives the same images. (torch keeps only 32 bits of a CPU seed; this mix gives every
item of one dataset its own stream, and two datasets whose seeds differ by less than 1000 share no
item unless they hold more than 1.9 million.)
"""

import math
import operator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset

RESOLUTIONS = (32, 64, 128)
SHAPE_NAMES = ("circle", "square", "triangle", "diamond", "plus",
               "cross", "ring", "hollow_square", "bar", "half_disc")
BASE = 32  # geometry is given in pixels at 32x32 and scaled by resolution / BASE
RADIUS = (4.0, 5.5)  # range of the object's half-extent, px at 32x32
MARGIN = 2.0  # px at 32x32 between the object and both the image border and the centre line
NUM_UNIFORMS = 10  # random numbers drawn per item, see `shape_params`
GOLDEN = 0x9E3779B9  # 2**32 / golden ratio: spreads the streams of nearby seeds far apart


def check_resolution(resolution: int) -> None:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")


@dataclass
class ShapeParams:
    """The random choices behind a batch of B scenes. Lengths in pixels at 32x32, colours in [0, 1].

    label [B] int64, centre [B, 2] (x, y) of the left object, radius [B], colour [B, 3],
    background [B, 3] (colour at mid-height), slope [B] (background change from top to bottom).
    """

    label: Tensor
    centre: Tensor
    radius: Tensor
    colour: Tensor
    background: Tensor
    slope: Tensor


def shape_params(indices, seed: int = 0, labels: Tensor | None = None) -> ShapeParams:
    """Parameters of items `indices` (ints in [0, 2**32)) of the dataset with `seed` (in [0, 2**32)).

    `labels` [B] overrides the default class i % 10 (the other choices stay those of item i).
    """
    indices = [operator.index(i) for i in indices]
    # u [B, 10]: column 0 radius, 1-2 position, 3-5 hue, saturation, value, 6-8 background, 9 slope
    u = torch.stack([_uniforms(seed, i) for i in indices]) if indices else torch.empty(0, NUM_UNIFORMS)
    radius = _lerp(*RADIUS, u[:, 0])
    centre_x = _lerp(MARGIN + radius, BASE / 2 - MARGIN - radius, u[:, 1])
    centre_y = _lerp(MARGIN + radius, BASE - MARGIN - radius, u[:, 2])
    colour = hsv_to_rgb(u[:, 3], _lerp(0.6, 1.0, u[:, 4]), _lerp(0.75, 1.0, u[:, 5]))
    if labels is None:
        labels = torch.tensor([i % len(SHAPE_NAMES) for i in indices], dtype=torch.int64)
    elif labels.shape != (len(indices),) or labels.min() < 0 or labels.max() >= len(SHAPE_NAMES):
        raise ValueError(f"labels must be {len(indices)} class ids in [0, {len(SHAPE_NAMES)}), got {labels}")
    return ShapeParams(
        label=labels.long(),
        centre=torch.stack([centre_x, centre_y], dim=1),
        radius=radius,
        colour=colour,
        background=_lerp(0.05, 0.25, u[:, 6:9]),
        slope=_lerp(-0.1, 0.1, u[:, 9]),
    )


def _uniforms(seed: int, index: int) -> Tensor:
    if not 0 <= seed < 2**32 or not 0 <= index < 2**32:
        raise ValueError(f"seed and index must be in [0, 2**32), got seed={seed}, index={index}")
    # A fresh generator per item makes item i independent of which items are drawn with it.
    generator = torch.Generator().manual_seed((index + seed * GOLDEN) % 2**32)
    return torch.rand(NUM_UNIFORMS, generator=generator)


def _lerp(low, high, t: Tensor) -> Tensor:
    return low + (high - low) * t


def hsv_to_rgb(hue: Tensor, saturation: Tensor, value: Tensor) -> Tensor:
    """[B] each, in [0, 1] -> [B, 3] RGB in [0, 1] (the standard piecewise-linear hexcone)."""
    n = torch.tensor([5.0, 3.0, 1.0])  # phase of red, green, blue around the hue circle
    k = (n + 6 * hue[:, None]) % 6  # [B, 3]
    ramp = torch.minimum(k, 4 - k).clamp(0, 1)
    return value[:, None] * (1 - saturation[:, None] * ramp)


# Signed distance functions in units of the radius: the object is centred at (0, 0), fits in
# [-1, 1] x [-1, 1], and y points down. Each takes u, v [N, H, W] and returns the same shape.

def _box(u: Tensor, v: Tensor, half_w: float, half_h: float) -> Tensor:
    qx, qy = u.abs() - half_w, v.abs() - half_h
    outside = torch.hypot(qx.clamp(min=0), qy.clamp(min=0))
    return outside + torch.maximum(qx, qy).clamp(max=0)


def _rotate45(u: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    c = math.sqrt(0.5)
    return c * (u + v), c * (v - u)


def _triangle(u: Tensor, v: Tensor) -> Tensor:
    """Isosceles triangle, apex (0, -1), base corners (+-0.9, 0.8); exact SDF after Inigo Quilez."""
    qx, qy = 0.9, 1.8  # a base corner relative to the apex
    px, py = u.abs(), v + 1.0
    t = ((px * qx + py * qy) / (qx * qx + qy * qy)).clamp(0, 1)
    to_side = (px - qx * t) ** 2 + (py - qy * t) ** 2  # squared distance to the slanted side
    to_base = (px - qx * (px / qx).clamp(0, 1)) ** 2 + (py - qy) ** 2
    inside = torch.minimum(py * qx - px * qy, qy - py)  # > 0 inside both the side and the base
    return -torch.minimum(to_side, to_base).sqrt() * torch.sign(inside)


def _plus(u: Tensor, v: Tensor) -> Tensor:
    return torch.minimum(_box(u, v, 1.0, 0.3), _box(u, v, 0.3, 1.0))


SDFS = {
    "circle": lambda u, v: torch.hypot(u, v) - 1.0,
    "square": lambda u, v: _box(u, v, 0.85, 0.85),
    "triangle": _triangle,
    "diamond": lambda u, v: _box(*_rotate45(u, v), math.sqrt(0.5), math.sqrt(0.5)),
    "plus": _plus,
    "cross": lambda u, v: _plus(*_rotate45(u, v)),
    "ring": lambda u, v: (torch.hypot(u, v) - 0.7).abs() - 0.3,
    "hollow_square": lambda u, v: _box(u, v, 0.625, 0.625).abs() - 0.25,
    "bar": lambda u, v: _box(u, v, 1.0, 0.35),
    # round side out, flat side towards the centre line: the twin is a mirrored "D"
    "half_disc": lambda u, v: torch.maximum(torch.hypot(u - 0.5, v) - 1.0, u - 0.5),
}


def render(params: ShapeParams, resolution: int = 32) -> Tensor:
    """Draw the scenes of `params`: [B, 3, S, S] float32 in [-1, 1], with S = `resolution`."""
    check_resolution(resolution)
    scale = resolution / BASE
    left = _render_left_half(params, resolution, scale)  # [B, 3, S, S/2]
    image = torch.cat([left, left.flip(-1)], dim=-1)  # [B, 3, S, S], exactly mirror-symmetric
    return image * 2 - 1


def _render_left_half(params: ShapeParams, resolution: int, scale: float) -> Tensor:
    B, S, W = len(params.label), resolution, resolution // 2
    ys = (torch.arange(S) + 0.5) / scale  # pixel centres, px at 32x32
    xs = (torch.arange(W) + 0.5) / scale
    radius = params.radius[:, None, None]  # [B, 1, 1]
    u = (xs[None, None, :] - params.centre[:, 0, None, None]) / radius  # [B, 1, W]
    v = (ys[None, :, None] - params.centre[:, 1, None, None]) / radius  # [B, S, 1]
    u, v = u.expand(B, S, W), v.expand(B, S, W)
    sdf = torch.empty(B, S, W)
    for label, name in enumerate(SHAPE_NAMES):
        chosen = params.label == label
        if chosen.any():
            sdf[chosen] = SDFS[name](u[chosen], v[chosen])
    sdf_px = sdf * radius * scale
    alpha = (0.5 - sdf_px).clamp(0, 1)[:, None]  # [B, 1, S, W], coverage over one pixel
    height = (torch.arange(S) + 0.5) / S - 0.5  # [S], -0.5 at the top to 0.5 at the bottom
    background = params.background[:, :, None] + params.slope[:, None, None] * height  # [B, 3, S]
    background = background[..., None].expand(B, 3, S, W)
    colour = params.colour[:, :, None, None]  # [B, 3, 1, 1]
    return background * (1 - alpha) + colour * alpha


def sample_shapes(n: int, resolution: int = 32, seed: int = 0,
                  labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Items 0..n-1 of `ShapesDataset(resolution, seed=seed)`: images [n, 3, S, S], labels [n].

    `labels` [n] int64 forces the classes (positions, sizes and colours stay those of items 0..n-1).
    """
    params = shape_params(range(n), seed, labels)
    return render(params, resolution), params.label


class ShapesDataset(Dataset):
    """`length` mirror-shape images at `resolution`; item i is (image [3, S, S] in [-1, 1], label)."""

    num_classes = len(SHAPE_NAMES)

    def __init__(self, resolution: int = 32, length: int = 50_000, seed: int = 0):
        check_resolution(resolution)
        length, seed = operator.index(length), operator.index(seed)
        if not 0 <= length <= 2**32:
            raise ValueError(f"length must be in [0, 2**32], got {length}")
        if not 0 <= seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {seed}")
        self.resolution, self.length, self.seed = resolution, length, seed
        self.classes = list(SHAPE_NAMES)  # index = label, as in torchvision's ImageFolder

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices) -> list[tuple[Tensor, int]]:
        """Render a whole batch in one vectorized call; DataLoader uses this when it exists."""
        indices = [self._check_index(i) for i in indices]
        params = shape_params(indices, self.seed)
        images = render(params, self.resolution)
        return list(zip(images.unbind(0), params.label.tolist()))

    def _check_index(self, index) -> int:
        index = operator.index(index)
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for a ShapesDataset of length {self.length}")
        return index % self.length

    def __repr__(self) -> str:
        return f"ShapesDataset(resolution={self.resolution}, length={self.length}, seed={self.seed})"
