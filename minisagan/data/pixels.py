"""Pixels in the two forms the project uses, and the one pair of conversions between them.

- uint8 in [0, 255]: files, the image stores, the shapes classifier and torch-fidelity's extractors;
- float in [-1, 1]: the networks (G ends in tanh).

``to_uint8`` rounds ``(x + 1) * 127.5``; ``to_float`` divides by 127.5 and subtracts 1, so a byte
goes to float and back unchanged. Every module converts through these two, so the rounding is the
same wherever an image is stored, scored or shown.
"""

import torch

__all__ = ["to_float", "to_uint8"]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] float in [-1, 1] (or uint8 already) -> uint8 in [0, 255], with clear errors."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor [batch, 3, height, width], got {shape}")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise ValueError(f"images must be float in [-1, 1] or uint8, got {images.dtype}")
    low, high = images.min().item(), images.max().item()
    if low < -1.01 or high > 1.01:
        raise ValueError("float images must lie in [-1, 1] (the generator's tanh range), "
                         f"got [{low:.3g}, {high:.3g}]")
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255], any layout -> float32 in [-1, 1], the same layout."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        got = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"to_float takes uint8 images in [0, 255], got {got}")
    return images.float().div_(127.5).sub_(1)
