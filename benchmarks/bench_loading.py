"""Loading speed at 128x128, batch 256, one process: the training run's batches from a prepared store
(a sorted gather from a memory map, in a background thread) against torchvision's ImageFolder
through a DataLoader (decode, resize, crop, to tensor), the path a folder of JPEGs takes.

    python benchmarks/bench_loading.py [--store-images 20000] [--jpegs 1024]

Target (issue 15): at least 20,000 images/s from the store and at least 20x ImageFolder. The store
is read from the page cache (it is read once before timing), as it is during training once the
first epoch has read it; a store larger than the RAM reads at the disk's speed instead.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from minisagan.data.folder import image_folder
from minisagan.data.store import FORMAT, ImageStore
from minisagan.run.stream import real_batches

from bench_prepare import add_results, write_photos


def fake_store(root: Path, n: int, resolution: int = 128) -> Path:
    """A store of random pixels with the layout `minisagan prepare` writes (the speed does not
    depend on the pixels)."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with open(root / "images.u8", "wb") as handle:
        for start in range(0, n, 1000):
            handle.write(rng.integers(0, 256, (min(1000, n - start), resolution, resolution, 3), np.uint8).tobytes())
    np.save(root / "labels.npy", np.arange(n) % 1000)
    manifest = {"format": FORMAT, "images": n, "resolution": resolution, "classes": [f"c{i}" for i in range(1000)]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def images_per_second(batches, count: int, batch: int) -> float:
    next(batches)  # start-up (thread, first read) outside the clock
    start = time.perf_counter()
    for _ in range(count):
        next(batches)
    return count * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-images", type=int, default=20_000)
    parser.add_argument("--jpegs", type=int, default=1024)
    parser.add_argument("--json", type=Path, default=None, help="add the results to this JSON file (Chapter 7 reads it)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as root:
        store = ImageStore(fake_store(Path(root) / "store", args.store_images))
        np.asarray(store.images).sum(dtype=np.uint64)  # into the page cache
        n_batches = args.store_images // 256 - 1
        from_store = images_per_second(real_batches(store, 256, seed=0, epoch=0, position=0), n_batches, 256)
        write_photos(Path(root) / "jpegs", args.jpegs)
        folder = image_folder(Path(root) / "jpegs", resolution=128)
        from_folder = images_per_second(real_batches(folder, 256, seed=0, epoch=0, position=0),
                                        args.jpegs // 256 - 1, 256)
    print("128x128, batch 256, one process (batches in the run's order):")
    print(f"  store ({args.store_images:,} images, page cache): {from_store:9,.0f} images/s")
    print(f"  ImageFolder on 500x375 JPEGs, DataLoader, no workers: {from_folder:9,.0f} images/s")
    print(f"  store / ImageFolder: {from_store / from_folder:.1f}x")
    if args.json:
        add_results(args.json, {
            "loading 128x128 at batch 256, one process, from a store": f"{from_store:,.0f} images/s",
            "the same from ImageFolder (500x375 JPEGs)": f"{from_folder:,.0f} images/s; the store is "
                                                          f"{from_store / from_folder:.0f}x faster",
        })


if __name__ == "__main__":
    main()
