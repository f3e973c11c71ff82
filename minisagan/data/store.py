"""Read a prepared store (`minisagan.data.prepare`): uint8 images in one memory-mapped file.

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

FORMAT = "minisagan-store-1"


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
        self.images = np.memmap(file, dtype=np.uint8, mode="r", shape=(n, r, r, 3))
        self.labels = np.load(self.path / "labels.npy")
        if len(self.labels) != n:
            raise DataError(f"{self.path / 'labels.npy'}: {len(self.labels):,} labels for {n:,} images; prepare "
                            "the store again")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(np.array(self.images[index]))
        return image.permute(2, 0, 1).float().div(127.5).sub(1), int(self.labels[index])

    def gather(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 [B, R, R, 3] and int64 [B] for ``indices``, read in sorted order, returned in the
        order asked."""
        indices = np.asarray(indices, dtype=np.int64)
        order = np.argsort(indices, kind="stable")
        rows = self.images[indices[order]]  # one sorted gather: a copy into memory
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return torch.from_numpy(rows[back]), torch.from_numpy(self.labels[indices].astype(np.int64))


def to_model_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch as the networks take it, [B, 3, R, R] float in [-1, 1] on ``device``: uint8 [B, R, R, 3]
    batches from a store are copied as bytes and converted on the device; float batches pass through."""
    images = images.to(device, non_blocking=True)
    if images.dtype == torch.uint8:
        images = images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1)
    return images


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
