"""Time to compute domain IS, FID and KID (the shapes classifier's features, through torch-fidelity)
for 10,000 generated 32x32 images against 10,000 real ones, on this CPU.

    python benchmarks/bench_metrics.py [--n 10000]

The "generated" images are Chapter 4's untrained 32x32 SAGAN generator's samples (the metric's cost
does not depend on their quality); sampling time is reported separately. The Inception-based metrics
on 50k 128x128 samples need a GPU and the weights file; they are not measured here.
"""

import argparse
import time

import torch

from minisagan.data import sample_shapes
from minisagan.metrics import fidelity_metrics, sample_images
from minisagan.sagan import Generator, SAGANConfig


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = SAGANConfig(resolution=32, width=32, z_dim=128, num_classes=10, attention=16)
    G = Generator(config)

    start = time.perf_counter()
    fake = sample_images(G, args.n, z_dim=config.z_dim, num_classes=10, batch_size=250, progress=False)
    sampling = time.perf_counter() - start
    real, _ = sample_shapes(args.n, resolution=32, seed=0)

    start = time.perf_counter()
    result = fidelity_metrics(fake, real, batch_size=250)
    metrics = time.perf_counter() - start
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n} vs {args.n} images at 32x32")
    print(f"sampling G (ch 32, attention at 16): {sampling:.1f} s, {args.n / sampling:,.0f} images/s")
    print(f"domain IS + FID + KID: {metrics:.1f} s, {2 * args.n / metrics:,.0f} images/s through the classifier "
          f"and the statistics (IS {result['IS']:.2f}, FID {result['FID']:.1f}, KID {result['KID']:.4f})")


if __name__ == "__main__":
    main()
