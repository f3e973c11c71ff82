# Generated from book/07_imagenet.md by minisagan.bookbuild.mirror.
# Do not edit: change the chapter, then run `make mirror`.


# --- book/07_imagenet.md, section: The rule: the centred square, resized
"""The uint8 store of a prepared image set (Chapter 7): the rule that turns a photo into
the centred square of the resolution, the one file of rows a run reads, and the sorted
gather."""

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from minisagan.data.pixels import to_float


def centred_square(width: int, height: int) -> tuple[float, float, float, float]:
    """The box (left, top, right, bottom) of the largest square centred in a width x
    height image."""
    side = min(width, height)
    return ((width - side) / 2, (height - side) / 2,
            (width + side) / 2, (height + side) / 2)


def decode_small(image: Image.Image, resolution: int) -> int:
    """Ask Pillow to decode a JPEG at the smallest of 1/2, 1/4 or 1/8 scale that keeps
    its centred square at least ``resolution`` wide (other formats decode at full
    size). Returns the reduction: 1, 2, 4 or 8. Call it before the pixels are read."""
    width, height = image.size
    side = min(width, height)
    if image.format == "JPEG":
        image.draft("RGB", (-(-width * resolution // side),
                            -(-height * resolution // side)))
    # draft rounds sizes up: round the ratio
    return 2 ** round(math.log2(width / image.size[0]))


def square_pixels(image: Image.Image, box, reduction: int,
                  resolution: int) -> np.ndarray:
    """The ``box`` of the full-size image (in an image decoded ``reduction`` times
    smaller), resized to ``resolution`` with the antialiased bicubic filter: uint8
    [R, R, 3]."""
    scaled = tuple(v / reduction for v in box)
    square = image.resize((resolution, resolution), Image.Resampling.BICUBIC,
                          box=scaled)
    return np.asarray(square, dtype=np.uint8)


# --- book/07_imagenet.md, section: The store: one file of rows
STORE_FORMAT = "minisagan-store-1"


def store_images(path, n: int, resolution: int, mode: str = "r") -> np.memmap:
    """The images of a store at ``path`` as a memory map, uint8 [n, R, R, 3]. ``mode``:
    "r" to read, "r+" to write rows into a file of the right size, "w+" to create it."""
    return np.memmap(Path(path) / "images.u8", dtype=np.uint8, mode=mode,
                     shape=(n, resolution, resolution, 3))


def gather(images: np.ndarray, labels: np.ndarray,
           indices) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``indices`` of ``images`` and ``labels``, read in increasing order (one
    forward sweep of the file) and returned in the order asked: uint8 [B, R, R, 3] and
    int64 [B]."""
    indices = np.asarray(indices, dtype=np.int64)
    order = np.argsort(indices, kind="stable")
    rows = images[indices[order]]  # the one read: sorted, copied into memory
    back = np.empty_like(order)
    # where each asked index landed in the sorted read
    back[order] = np.arange(len(order))
    return (torch.from_numpy(rows[back]),
            torch.from_numpy(labels[indices].astype(np.int64)))


def to_model_input(images: torch.Tensor, device) -> torch.Tensor:
    """A batch as the networks take it, [B, 3, R, R] float in [-1, 1] on ``device``:
    uint8 [B, R, R, 3] rows are copied as bytes and converted there; float batches pass
    through."""
    images = images.to(device, non_blocking=True)
    if images.dtype == torch.uint8:
        images = to_float(images.permute(0, 3, 1, 2))
    return images
