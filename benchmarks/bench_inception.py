"""Inception evaluation throughput: images per second through torch-fidelity's FID Inception (the
network behind the paper's IS, FID and KID), and the minutes that makes for the book's evaluations.

    python3 benchmarks/bench_inception.py --device cuda --out inception.json   # on a GPU (issue 26)
    python3 benchmarks/bench_inception.py --dry-run                            # a CPU check, seconds

The network is torch-fidelity's own `FeatureExtractorInceptionV3`, randomly initialised: its weights
file (91 MB) cannot travel to the GPU machine, and the weights change no operation's cost. Inputs
are uint8 images ``[B, 3, 128, 128]`` made on the device (no loader, no host-to-device copy), so the
time is the extractor's forward as torch-fidelity calls it: its TensorFlow-style resize to 299, the
network in float32, the 2048-d pool features (FID, KID) and the logits (IS) from one pass. Convolutions
follow PyTorch's defaults for float32 (``torch.backends.cudnn.allow_tf32``, recorded in the results).
Not counted: decoding or loading images, sampling G, and the statistics (FID's matrix square root of
2048 x 2048, a few seconds once per evaluation).

Derived: the minutes for one paper evaluation (50,000 samples and 50,000 real images; the real
features can be cached, then it is half) and for the 1.28M ImageNet training images, at the best
batch size's rate.
"""

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch_fidelity
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

PAPER_EVAL_IMAGES = 50_000 + 50_000  # generated + real, the paper's FID protocol
IMAGENET_TRAIN_IMAGES = 1_281_167  # ILSVRC 2012's training set
FEATURES = ("2048", "logits_unbiased")  # FID and KID's features, IS's logits: one pass, as calculate_metrics asks


class RandomInceptionV3(FeatureExtractorInceptionV3):
    """torch-fidelity's FID Inception with its layers' own random initialisation: the same modules,
    forward and cost, no weights file. The parent's constructor loads a state dict from the path it
    is given; an empty one (`random_inception` writes it) leaves the initialisation as it is."""

    def load_state_dict(self, state_dict, *args, **kwargs):
        if not state_dict:
            return None
        return super().load_state_dict(state_dict, *args, **kwargs)


def random_inception(device: str | torch.device = "cpu") -> RandomInceptionV3:
    """The extractor on ``device``, in eval mode and float32; its forward maps uint8 ``[B, 3, H, W]``
    to ``(features [B, 2048], logits [B, 1008])``."""
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "no-weights.pt"
        torch.save({}, empty)
        net = RandomInceptionV3("inception-v3-random", list(FEATURES), feature_extractor_weights_path=str(empty))
    return net.to(device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def images_per_second(net, batch: int, resolution: int, device: torch.device, repeats: int, warmup: int) -> dict:
    """Time ``repeats`` forwards of a batch of random uint8 images after ``warmup`` untimed ones."""
    images = torch.randint(0, 256, (batch, 3, resolution, resolution), dtype=torch.uint8, device=device)
    for _ in range(warmup):  # cuDNN picks its algorithms on the first calls
        net(images)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(repeats):
        features, logits = net(images)
    synchronize(device)
    seconds = time.perf_counter() - start
    assert features.shape == (batch, 2048) and logits.shape == (batch, 1008)
    row = {"batch": batch, "repeats": repeats, "seconds": round(seconds, 4),
           "images_per_s": round(batch * repeats / seconds, 1)}
    if device.type == "cuda":
        row["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return row


def machine(device: torch.device) -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torch_fidelity": torch_fidelity.__version__, "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "cpu_threads": torch.get_num_threads(), "host": platform.node(),
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}


def minutes(images: int, rate: float) -> float:
    return round(images / rate / 60, 2)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto (cuda when there is one)")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated (default 64,256 on a GPU, 8 on a CPU)")
    parser.add_argument("--resolution", type=int, default=128, help="side of the uint8 input images")
    parser.add_argument("--repeats", type=int, default=None, help="timed batches per size (default 20 GPU, 2 CPU)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--dry-run", action="store_true", help="a few 32x32 images on the CPU, seconds")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.device, args.batch_sizes, args.resolution, args.repeats, args.warmup = "cpu", "2", 32, 1, 1
    name = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    device = torch.device(name)
    on_gpu = device.type == "cuda"
    batches = [int(b) for b in (args.batch_sizes or ("64,256" if on_gpu else "8")).split(",")]
    repeats = args.repeats or (20 if on_gpu else 2)

    start = time.perf_counter()
    net = random_inception(device)
    built = time.perf_counter() - start
    rows = []
    for batch in batches:
        rows.append(images_per_second(net, batch, args.resolution, device, repeats, args.warmup))
        print(f"batch {batch:>4} at {args.resolution}x{args.resolution} (resized to 299): "
              f"{rows[-1]['images_per_s']:,.1f} images/s" + (f", peak {rows[-1]['peak_gib']} GiB" if on_gpu else ""),
              flush=True)
    best = max(rows, key=lambda row: row["images_per_s"])
    rate = best["images_per_s"]
    results = {
        "what": "torch-fidelity's FID InceptionV3 (random weights), float32, uint8 input resized to 299; "
                "features 2048 + logits in one pass",
        "date": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}", "command": " ".join(["python3", *sys.argv]),
        "dry_run": args.dry_run, "resolution": args.resolution, "build_seconds": round(built, 2),
        "machine": machine(device), "rows": rows, "best_batch": best["batch"], "images_per_s": rate,
        "minutes_paper_eval_50k_plus_50k": minutes(PAPER_EVAL_IMAGES, rate),
        "minutes_imagenet_train_1_28M": minutes(IMAGENET_TRAIN_IMAGES, rate),
    }
    print(f"best: {rate:,.1f} images/s at batch {best['batch']} on {results['machine']['gpu'] or 'the CPU'}: "
          f"{results['minutes_paper_eval_50k_plus_50k']} min for 50,000 samples + 50,000 real images, "
          f"{results['minutes_imagenet_train_1_28M']} min for the 1.28M ImageNet training images")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
