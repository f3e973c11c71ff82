"""How far FID on N images lies above FID on infinitely many, on the built-in data: the book's trained
model (data/reference/model) and a second set of real images, each against held-out real images, at
N = 1,000 to 50,000 (Chapter 5's method, carried to the sizes of Chapter 7's protocols: 10,000 in the
run, 50,000 in the paper). Features of every image are computed once with the shapes classifier;
FID at each N comes from the float64 statistics of the first N (`minisagan.imagenet`).

    python benchmarks/fid_bias.py [--threads 2] [--out data/reference/ch07_fid_bias]

Writes ``bias.csv`` (set, images, fid) and ``about.json`` (command, machine, date, seconds, threads,
load, and the fitted FID = FID_inf + k / N of each set).
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from minisagan.data import sample_shapes
from minisagan.imagenet import FeatureMoments, feature_extractor, frechet_distance
from minisagan.metrics import sample_images, to_uint8
from minisagan.run.models import load_generator
from minisagan.run.stream import HELD_OUT_SEED

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000)


def features(images: torch.Tensor, extractor, batch: int = 500) -> torch.Tensor:
    return torch.cat([extractor(images[i:i + batch])[0] for i in range(0, len(images), batch)]).double()


def statistics(x: torch.Tensor) -> dict:
    moments = FeatureMoments(x.shape[1])
    moments.add(x)
    return moments.statistics()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "reference" / "ch07_fid_bias")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start, load = time.perf_counter(), os.getloadavg()[0]
    n = max(SIZES)
    extractor, _ = feature_extractor("shapes")
    G, config, classes = load_generator(ROOT / "data" / "reference" / "model" / "checkpoint.pt")
    with torch.no_grad():
        sets = {
            "held-out real": to_uint8(sample_shapes(n, config.resolution, seed=HELD_OUT_SEED)[0]),
            "the trained model": sample_images(G, n, z_dim=config.z_dim, num_classes=classes, seed=3, progress=False),
            "real (another draw)": to_uint8(sample_shapes(n, config.resolution, seed=HELD_OUT_SEED + 1)[0]),
        }
        feats = {name: features(images, extractor) for name, images in sets.items()}
    rows, fits = [], {}
    for name in ("the trained model", "real (another draw)"):
        fids = [frechet_distance(statistics(feats[name][:k]), statistics(feats["held-out real"][:k])) for k in SIZES]
        rows += [(name, k, fid) for k, fid in zip(SIZES, fids)]
        slope, intercept = np.polyfit(1 / np.array(SIZES, dtype=float), fids, 1)  # FID = FID_inf + k / N
        fits[name] = {"fid_inf": round(float(intercept), 4), "k": round(float(slope), 1)}
        print(f"{name}: " + ", ".join(f"N={k} {fid:.3f}" for k, fid in zip(SIZES, fids))
              + f"; FID_inf {intercept:.3f}, k {slope:.0f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bias.csv").write_text("set,images,fid\n" + "".join(f"{s},{k},{f:.5f}\n" for s, k, f in rows))
    about = {
        "what": "FID on shape features at N images against N held-out real images: the book's trained model "
                "(data/reference/model, its average of G) and a second draw of real images",
        "command": "python benchmarks/fid_bias.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"), "seconds": round(time.perf_counter() - start),
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, Python {platform.python_version()}, "
                   f"PyTorch {torch.__version__}", "threads": args.threads, "load_average_at_start": load,
        "fit": fits,
    }
    (args.out / "about.json").write_text(json.dumps(about, indent=1) + "\n")
    print(f"wrote {args.out} in {about['seconds']} s")


if __name__ == "__main__":
    main()
