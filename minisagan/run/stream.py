"""The data a run reads: its dataset, the order of its batches, and the real images its metrics
compare with.

The order is a permutation of the dataset fixed by (seed, epoch), cut into global batches (an
incomplete tail is dropped); a run's position in it is (epoch, batch index), which the checkpoint
stores, so a resumed run reads exactly the batches it would have read. Under ``torchrun`` each
process loads only its slice (``part``) of every global batch.
"""

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import SHAPE_NAMES, ShapesDataset, image_folder, sample_shapes
from ..errors import ConfigError
from ..metrics import to_uint8

HELD_OUT_SEED = 7919  # the built-in evaluation images: a seed no training set of the book uses


def make_dataset(data: str, resolution: int, data_size: int, seed: int) -> tuple[Dataset, int]:
    """(dataset, number of classes): ``data="shapes"`` for the built-in mirror shapes (``data_size``
    images from ``seed``), else the path of an ImageFolder-style folder."""
    if data == "shapes":
        return ShapesDataset(resolution=resolution, length=data_size, seed=seed), len(SHAPE_NAMES)
    folder = image_folder(data, resolution)
    return folder, len(folder.classes)


def data_record(dataset: Dataset) -> dict:
    """What a resumed run must find again: the number of images and the class names (the order of
    the batches depends on the first, the meaning of the labels on the second)."""
    return {"length": len(dataset), "classes": list(getattr(dataset, "classes", SHAPE_NAMES))}


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The index batches of one epoch: a permutation fixed by (seed, epoch), incomplete tail dropped."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def real_batches(dataset: Dataset, batch_size: int, seed: int, epoch: int, position: int,
                 part: slice = slice(None), num_workers: int = 0):
    """Yield ``(epoch, position_after, images, labels)`` forever, starting at batch ``position`` of
    ``epoch``; each process loads only its ``part`` of every global batch."""
    while True:
        batches = epoch_batches(len(dataset), batch_size, seed, epoch)
        if not batches:
            raise ConfigError(f"config key 'batch_size' ({batch_size}) exceeds the data's {len(dataset)} images")
        # The loader's own seed (for workers and any random transform) comes from (seed, epoch), not
        # from torch's global generator, so a resumed run draws the same.
        seeds = torch.Generator().manual_seed(seed * 100_003 + epoch + 1)
        loader = DataLoader(dataset, batch_sampler=[b[part] for b in batches[position:]], num_workers=num_workers,
                            generator=seeds)
        for images, labels in loader:
            position += 1
            yield epoch, position, images, labels
        epoch, position = epoch + 1, 0


def evaluation_images(data: str, dataset: Dataset, n: int, resolution: int, seed: int) -> torch.Tensor:
    """The ``n`` real images the metrics compare with, uint8 [n, 3, R, R]: held-out built-in images
    (a seed no training set uses), or a fixed random subset of the folder."""
    if data == "shapes":
        return to_uint8(sample_shapes(n, resolution, seed=HELD_OUT_SEED)[0])
    pick = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    return to_uint8(torch.stack([dataset[i][0] for i in pick.tolist()]))
