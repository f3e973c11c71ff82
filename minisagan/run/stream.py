"""The data a run reads: its dataset, the order of its batches, and the real images its metrics
compare with.

The order is a permutation of the dataset fixed by (seed, epoch), cut into global batches (an
incomplete tail is dropped); a run's position in it is (epoch, batch index), which the checkpoint
stores, so a resumed run reads exactly the batches it would have read. Under ``torchrun`` each
process loads only its slice (``part``) of every global batch.

Three kinds of data: the built-in shapes, a prepared store (`minisagan prepare`: uint8 rows gathered
in a background thread and converted on the device) and an ImageFolder-style folder (decoded by a
DataLoader).
"""

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import SHAPE_NAMES, ShapesDataset, image_folder, sample_shapes
from ..data.pixels import to_uint8
from ..data.store import ImageStore, is_store, prefetch
from ..errors import ConfigError
from ..imagenet import in_run_picks
from .config import on_shapes

HELD_OUT_SEED = 7919  # the built-in evaluation images: a seed no training set of the book uses


def make_dataset(data: str, resolution: int, data_size: int, seed: int) -> tuple[Dataset, int]:
    """(dataset, number of classes): ``data="shapes"`` for the built-in mirror shapes (``data_size``
    images from ``seed``), else the path of an ImageFolder-style folder."""
    if on_shapes(data):
        return ShapesDataset(resolution=resolution, length=data_size, seed=seed), len(SHAPE_NAMES)
    if is_store(data):
        store = ImageStore(data)
        if store.resolution != resolution:
            raise ConfigError(f"config key 'resolution': the store {data} holds {store.resolution}x{store.resolution} "
                              f"images (got {resolution}); prepare it at {resolution} or train at {store.resolution}")
        return store, len(store.classes)
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
                 part: slice = slice(None), num_workers: int = 0, pin: bool = False):
    """Yield ``(epoch, position_after, images, labels)`` forever, starting at batch ``position`` of
    ``epoch``; each process loads only its ``part`` of every global batch. From a store the images
    are uint8 [B, R, R, 3] (`minisagan.data.store.to_model_input` converts them on the device), read
    in a background thread with pinned memory when ``pin``; otherwise float [B, 3, R, R]."""
    if isinstance(dataset, ImageStore):
        yield from prefetch(((epoch, position, *dataset.gather(batch))
                             for epoch, position, batch in _positions(len(dataset), batch_size, seed, epoch,
                                                                      position, part)), pin=pin)
        return
    for epoch, first, batches in _epochs(len(dataset), batch_size, seed, epoch, position):
        # The loader's own seed (for workers and any random transform) comes from (seed, epoch), not
        # from torch's global generator, so a resumed run draws the same.
        seeds = torch.Generator().manual_seed(seed * 100_003 + epoch + 1)
        loader = DataLoader(dataset, batch_sampler=[b[part] for b in batches], num_workers=num_workers,
                            generator=seeds)
        for position, (images, labels) in enumerate(loader, start=first + 1):
            yield epoch, position, images, labels


def _epochs(n: int, batch_size: int, seed: int, epoch: int, position: int):
    """``(epoch, position, the epoch's batches from that position on)`` forever: the run's order."""
    while True:
        batches = epoch_batches(n, batch_size, seed, epoch)
        if not batches:
            raise ConfigError(f"config key 'batch_size' ({batch_size}) exceeds the data's {n} images")
        yield epoch, position, batches[position:]
        epoch, position = epoch + 1, 0


def _positions(n: int, batch_size: int, seed: int, epoch: int, position: int, part: slice):
    """``(epoch, position_after, this process's part of the batch)`` forever, one batch at a time."""
    for epoch, first, batches in _epochs(n, batch_size, seed, epoch, position):
        for position, batch in enumerate(batches, start=first + 1):
            yield epoch, position, batch[part]


def evaluation_images(data: str, dataset: Dataset, n: int, resolution: int, seed: int) -> torch.Tensor:
    """The ``n`` real images the metrics compare with, uint8 [n, 3, R, R]: held-out built-in images
    (a seed no training set uses), or a fixed random subset of the folder."""
    if on_shapes(data):
        return to_uint8(sample_shapes(n, resolution, seed=HELD_OUT_SEED)[0])
    pick = in_run_picks(len(dataset), n, seed)
    if isinstance(dataset, ImageStore):
        return dataset.gather(pick.numpy())[0].permute(0, 3, 1, 2).contiguous()
    return to_uint8(torch.stack([dataset[i][0] for i in pick.tolist()]))
