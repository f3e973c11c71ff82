"""Read a prepared store (`minisagan.data.prepare`): uint8 images in one memory-mapped file, laid
out, gathered and converted as Chapter 7 builds it (`minisagan.imagestore`).

    store = ImageStore("~/imagenet128")
    images, labels = store.gather([5, 3, 9])   # uint8 [3, R, R, 3] and int64 [3], in the order asked
    image, label = store[5]                    # [3, R, R] float in [-1, 1], as an ImageFolder gives

`gather` reads the rows in sorted order (sequential reads from the page cache or the disk) and puts
them back in the order asked; a training run moves the uint8 batch to the GPU and converts it there
(`to_model_input`), so the CPU only copies bytes. `prefetch` runs the gathering in a background
thread, a few batches ahead of the training step.
"""

import json
import queue
import threading
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError
from ..imagestore import STORE_FORMAT as FORMAT
from ..imagestore import gather, store_images, to_model_input

__all__ = ["FORMAT", "ImageStore", "is_store", "prefetch", "to_model_input"]


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by `minisagan prepare`."""
    return (Path(path).expanduser() / "manifest.json").is_file()


class ImageStore(Dataset):
    """The images of a prepared store, their labels and its manifest (classes, resolution, protocol)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        try:
            self.manifest = json.loads((self.path / "manifest.json").read_text())
        except (OSError, ValueError) as error:
            raise DataError(f"{self.path} is not a prepared store ({error}); run `minisagan prepare` first") from None
        if self.manifest.get("format") != FORMAT:
            raise DataError(f"{self.path}: store format {self.manifest.get('format')!r} is not {FORMAT!r}; "
                            "prepare it again with this version")
        self.resolution = int(self.manifest["resolution"])
        self.classes = list(self.manifest["classes"])
        n, r = int(self.manifest["images"]), self.resolution
        file = self.path / "images.u8"
        if not file.is_file() or file.stat().st_size != n * r * r * 3:
            raise DataError(f"{file}: expected {n * r * r * 3:,} bytes ({n:,} images at {r}x{r}); the store is "
                            "incomplete or damaged, prepare it again")
        self.images = store_images(self.path, n, r)
        self.labels = np.load(self.path / "labels.npy")
        if len(self.labels) != n:
            raise DataError(f"{self.path / 'labels.npy'}: {len(self.labels):,} labels for {n:,} images; prepare "
                            "the store again")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        row = torch.from_numpy(np.array(self.images[index:index + 1]))
        return to_model_input(row, "cpu")[0], int(self.labels[index])

    def gather(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 [B, R, R, 3] and int64 [B] for ``indices``, read in sorted order, returned in the
        order asked (Chapter 7's `gather`)."""
        return gather(self.images, self.labels, indices)


def prefetch(batches, depth: int = 4, pin: bool = False):
    """Iterate ``batches`` (tuples whose tensors are gathered on the CPU) in a background thread,
    ``depth`` ahead, with pinned memory when ``pin`` (for non-blocking copies to a GPU)."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in batches:
                if pin:
                    item = tuple(x.pin_memory() if isinstance(x, torch.Tensor) else x for x in item)
                if not put(item):
                    return
            put(done)
        except BaseException as error:  # handed to the consumer, raised there
            put(error)

    thread = threading.Thread(target=work, daemon=True, name="minisagan-prefetch")
    thread.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
