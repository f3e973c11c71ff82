"""Preparation speed: `minisagan prepare`'s decoding (JPEG draft mode, crop, antialiased resize)
against a plain ``Image.open().convert("RGB")`` + crop + resize, one core each, on generated JPEGs of
ImageNet's typical size (500x375, quality 90); then the whole command on every core.

    python benchmarks/bench_prepare.py [--images 600] [--resolution 128]

Targets (issue 15): at least 300 images/s per core and at least 2x the plain baseline.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from minisagan.data.prepare import load_square, prepare


def write_photos(root: Path, n: int, seed: int = 0) -> list[Path]:
    """n JPEGs of 500x375 (a few portrait) with photo-like detail: smooth colour fields, edges and noise."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        w, h = (500, 375) if i % 5 else (375, 500)
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = rng.uniform(0, 255, 3) + 60 * np.sin(x[..., None] / rng.uniform(20, 80) + rng.uniform(0, 6, 3))
        blob = ((x - rng.uniform(0, w)) ** 2 + (y - rng.uniform(0, h)) ** 2 < rng.uniform(40, 150) ** 2)[..., None]
        pixels = base + 80 * blob + rng.normal(0, 12, (h, w, 3))
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(folder / f"{i:06d}.JPEG")
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(paths[-1], quality=90)
    return paths


def plain(path: Path, resolution: int) -> np.ndarray:
    """The baseline: ``Image.open().convert().resize()`` (Pillow's default filter for RGB, bicubic;
    no crop, which only makes the baseline faster)."""
    return np.asarray(Image.open(path).convert("RGB").resize((resolution, resolution)))


def rate(function, paths, resolution, rounds=3) -> float:
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for path in paths:
            function(path, resolution)
        best = max(best, len(paths) / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--json", type=Path, default=None, help="add the results to this JSON file (Chapter 7 reads it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        paths = write_photos(Path(root) / "train", args.images)
        ours = rate(load_square, paths, args.resolution)
        baseline = rate(plain, paths, args.resolution)
        print(f"{args.images} JPEGs of 500x375, quality 90 -> {args.resolution}x{args.resolution}, one core, best of 3:")
        print(f"  plain Image.open().convert().resize(): {baseline:7.0f} images/s")
        print(f"  minisagan (draft + crop + resize):    {ours:7.0f} images/s  ({ours / baseline:.2f}x the plain baseline)")
        cores = os.cpu_count() or 1
        start = time.perf_counter()
        prepare(Path(root) / "train", Path(root) / "store", args.resolution, workers=cores, progress=False)
        whole = args.images / (time.perf_counter() - start)
        print(f"  minisagan prepare on {cores} cores (start-up, checksum and verification included): "
              f"{whole:.0f} images/s ({whole / cores:.0f} per core)")
        print(f"  ImageNet's 1,281,167 images at this rate: {1_281_167 / whole / 3600:.1f} hours on {cores} cores")
    if args.json:
        add_results(args.json, {
            "preparation, one core (draft + crop + resize)": f"{ours:.0f} images/s = {ours / baseline:.2f}x the plain "
                                                              f"decode ({baseline:.0f} images/s)",
            f"minisagan prepare on {cores} cores": f"{whole:.0f} images/s; ImageNet in {1_281_167 / whole / 3600:.1f} h",
        })


def add_results(path: Path, results: dict) -> None:
    """Merge ``results`` into the JSON file Chapter 7 reads, with when and where they were made."""
    record = json.loads(path.read_text()) if path.exists() else {"results": {}}
    record["results"].update(results)
    cpu = platform.processor() or platform.machine()
    record["made"] = (f"measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu}), Python "
                      f"{platform.python_version()}, by benchmarks/bench_prepare.py and benchmarks/bench_loading.py "
                      "with --json")
    path.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
