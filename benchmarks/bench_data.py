"""Images per second of the built-in mirror shapes, one at a time, in batches and through a DataLoader.

    python benchmarks/bench_data.py

A CPU training step of a small GAN takes about 0.2 to 1 s per batch of 64, so loading needs a few
hundred images per second to keep up; batch loading should beat that by a wide margin.
"""

import time

import torch
from torch.utils.data import DataLoader

from minisagan.data import RESOLUTIONS, ShapesDataset

BATCH = 64
WINDOWS, WINDOW_S = 5, 0.6  # timing windows per measurement and seconds in each


def images_per_second(load_batch, batch_size: int) -> float:
    """Best rate of `load_batch(step)` (which loads `batch_size` images) over WINDOWS windows.

    The best window, not the mean: other work on a shared machine can only slow a window down.
    """
    load_batch(0)  # warm-up: first calls pay for allocations
    step, rates = 0, []
    for _ in range(WINDOWS):
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < WINDOW_S:
            step, calls = step + 1, calls + 1
            load_batch(step)
        rates.append(calls * batch_size / (time.perf_counter() - start))
    return max(rates)


def one_at_a_time(dataset: ShapesDataset):
    return lambda step: dataset[step % len(dataset)]


def batched(dataset: ShapesDataset):
    def load(step):
        first = step * BATCH % (len(dataset) - BATCH)
        dataset.__getitems__(range(first, first + BATCH))
    return load


def through_dataloader(dataset: ShapesDataset):
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=0)

    def epochs():  # at 32x32 one epoch of 50,000 images takes a few seconds
        while True:
            yield from loader
    batches = epochs()
    return lambda step: next(batches)


def main():
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; images per second")
    print(f"{'resolution':>10} {'dataset[i]':>12} {'batch of 64':>12} {'DataLoader':>12}")
    for resolution in RESOLUTIONS:
        dataset = ShapesDataset(resolution, length=50_000)
        rates = [images_per_second(one_at_a_time(dataset), 1),
                 images_per_second(batched(dataset), BATCH),
                 images_per_second(through_dataloader(dataset), BATCH)]
        print(f"{resolution:>10} " + " ".join(f"{rate:>12,.0f}" for rate in rates))


if __name__ == "__main__":
    main()
