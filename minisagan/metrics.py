# Generated from book/05_metrics.md by minisagan.bookbuild.mirror.
# Do not edit: change the chapter, then run `make mirror`.


# --- book/05_metrics.md, section: The code
"""IS, FID and KID through torch-fidelity, for generators and image sets, on the paper's
Inception features or on the built-in shapes classifier's (report
`minisagan.data.consistency` beside them); on the built-in data, class accuracy (does
each sample show the class it was asked for?) and the hues its objects cover."""

import hashlib
import os
from pathlib import Path

import torch
import torch_fidelity
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from minisagan.data import consistency
from minisagan.data.pixels import to_float, to_uint8
from minisagan.data.shapes_classifier import (
    load_classifier,
    register_shapes_extractor,
    to_classifier_input,
)
from minisagan.errors import CheckpointError, MissingWeightsError

# torch-fidelity's FID Inception weights
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_SHA256_PREFIX = "6726825d"
INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 + INCEPTION_FILE)
INCEPTION_ENV = "MINISAGAN_INCEPTION_WEIGHTS"
EXTRACTORS = {"inception": ("inception-v3-compat", 2048),
              "shapes": ("minisagan-shapes", 128)}


class ImageTensorDataset(Dataset):
    """uint8 images [N, 3, H, W] served one by one, as torch-fidelity reads its
    inputs."""

    def __init__(self, images: torch.Tensor):
        self.images = to_uint8(images).cpu()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def balanced_classes(n: int, num_classes: int, start: int = 0) -> torch.Tensor:
    """The classes asked of samples start .. start + n - 1: i mod num_classes, so that
    every class is asked equally often (within one)."""
    return torch.arange(start, start + n) % num_classes


@torch.no_grad()
def sample_images(G, n: int, *, z_dim: int, num_classes: int = 0, batch_size: int = 64,
                  seed: int = 0, device="cpu", progress: bool = True) -> torch.Tensor:
    """n images from G as uint8 [n, 3, H, W]; classes balanced (`balanced_classes`) if
    conditional."""
    # the same for any batch size
    z_all = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    was_training = G.training
    G.eval()
    batches = []
    for start in tqdm(range(0, n, batch_size), desc="sampling", disable=not progress,
                      leave=False):
        z = z_all[start:start + batch_size].to(device)
        if num_classes:
            y = balanced_classes(len(z), num_classes, start).to(device)
            batches.append(to_uint8(G(z, y)).cpu())
        else:
            batches.append(to_uint8(G(z)).cpu())
    G.train(was_training)
    return torch.cat(batches)


def inception_weights(path: str | Path | None = None) -> Path:
    """The Inception weights file: ``path``, else $MINISAGAN_INCEPTION_WEIGHTS, else
    torch's hub cache.

    Nothing is downloaded: a missing file stops with a message saying how to get it.
    """
    candidates = [Path(p) for p in (path, os.environ.get(INCEPTION_ENV)) if p]
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE)
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise MissingWeightsError(
            "the Inception weights are not on this machine; looked in:\n"
            + "".join(f"  {p}\n" for p in candidates)
            + "On a machine with internet, download (sha256 starts with "
            f"{INCEPTION_SHA256_PREFIX})\n  {INCEPTION_URL}\n"
            f"copy it here, and pass its path or set {INCEPTION_ENV}."
        )
    digest = hashlib.sha256(found.read_bytes()).hexdigest()
    if not digest.startswith(INCEPTION_SHA256_PREFIX):
        raise CheckpointError(
            f"{found} is not the FID Inception weights file: its sha256 starts with "
            f"{digest[:8]}, expected {INCEPTION_SHA256_PREFIX}; download it again")
    return found


def fidelity_metrics(
    fake, real, *, features: str = "shapes", isc: bool = True, fid: bool = True,
    kid: bool = True, batch_size: int = 64, weights: str | Path | None = None,
    device="cpu", seed: int = 0, isc_splits: int = 10,
    real_cache: tuple[str | Path, str] | None = None,
) -> dict[str, float]:
    """IS of ``fake``, FID and KID between ``fake`` and ``real`` (image tensors), via
    torch-fidelity.

    features: "inception" (the paper's protocol; needs the weights file) or "shapes"
    (the built-in data's classifier). isc_splits: IS is averaged over this many splits
    (the paper's protocol: 10; each split should hold every class many times).
    real_cache: (folder, name) under which torch-fidelity keeps the real images'
    features, computed once for every later call with the same name. Returns {"IS",
    "IS_std", "FID", "KID", "KID_std"} for what was asked.
    """
    if features not in EXTRACTORS:
        raise ValueError(f"features must be one of {sorted(EXTRACTORS)}, "
                         f"got {features!r}")
    name, dim = EXTRACTORS[features]
    if features == "inception":
        weights = inception_weights(weights)
    else:
        register_shapes_extractor()
    fake, real = ImageTensorDataset(fake), ImageTensorDataset(real)
    if fid and min(len(fake), len(real)) < dim:
        raise ValueError(f"FID on {features} features needs at least {dim} images per "
                         f"set (the feature dimension), got {len(fake)} and "
                         f"{len(real)}: its covariance would be singular")
    cache = {}
    if real_cache is not None:
        cache = {"cache_root": str(real_cache[0]), "input2_cache_name": real_cache[1]}
    raw = torch_fidelity.calculate_metrics(
        input1=fake, input2=real, isc=isc, fid=fid, kid=kid, feature_extractor=name,
        feature_extractor_weights_path=None if weights is None else str(weights),
        batch_size=batch_size, cuda=torch.device(device).type == "cuda",
        save_cpu_ram=True, kid_subset_size=min(1000, len(fake), len(real)),
        isc_splits=isc_splits, rng_seed=seed, verbose=False, **cache,
    )
    keys = {"inception_score_mean": "IS", "inception_score_std": "IS_std",
            "frechet_inception_distance": "FID",
            "kernel_inception_distance_mean": "KID",
            "kernel_inception_distance_std": "KID_std"}
    return {short: float(raw[key]) for key, short in keys.items() if key in raw}


# --- book/05_metrics.md, section: Does G draw the class it was asked for?
@torch.no_grad()
def class_accuracy(images: torch.Tensor, labels: torch.Tensor, *, num_classes: int = 10,
                   batch_size: int = 500) -> tuple[float, torch.Tensor]:
    """The fraction of ``images`` ([B, 3, S, S], uint8 or float in [-1, 1]) that the
    shapes classifier assigns to ``labels`` [B], and the same per class ([num_classes],
    NaN for a class with no image)."""
    classifier = load_classifier()
    x = to_float(to_uint8(images))  # [B, 3, S, S] in [-1, 1], on the byte grid
    batches = (x[i:i + batch_size] for i in range(0, len(x), batch_size))
    predicted = torch.cat([classifier(to_classifier_input(batch)).argmax(1)
                           for batch in batches])  # [B]
    right = (predicted == labels.cpu()).float()
    per_class = torch.stack([right[labels.cpu() == c].mean() if (labels == c).any()
                             else right.new_tensor(float("nan"))
                             for c in range(num_classes)])
    return right.mean().item(), per_class


def hue_histogram(images: torch.Tensor, bins: int = 10, report=None) -> torch.Tensor:
    """The share of images whose object's hue falls in each of ``bins`` equal sectors of
    the hue circle ([bins], summing to 1 over the images where `consistency` finds an
    object on the left). report: `consistency`'s report of these images, if made."""
    report = report if report is not None else consistency(to_uint8(images))
    rgb = report.left_colour[report.has_pair]  # [B', 3] in [0, 1]
    top, low = rgb.max(1).values, rgb.min(1).values
    spread = (top - low).clamp_min(1e-6)
    r, g, b = rgb.unbind(1)
    hue = torch.where(top == r, (g - b) / spread,
                      torch.where(top == g, 2 + (b - r) / spread,
                                  4 + (r - g) / spread))
    hue = (hue / 6) % 1.0  # [B'] in [0, 1)
    sector = (hue * bins).long().clamp_max(bins - 1)  # [B']
    counts = torch.bincount(sector, minlength=bins).float()
    return counts / counts.sum().clamp_min(1)


def hues_present(images: torch.Tensor, bins: int = 10, report=None) -> int:
    """How many of the ``bins`` hue sectors hold at least a quarter of their fair share
    (1 / bins). report: as for `hue_histogram`."""
    return int((hue_histogram(images, bins, report) >= 0.25 / bins).sum())


# --- book/05_metrics.md, section: How much a score moves by chance
import math


def proportion_se(p: float, n: int) -> float:
    """The standard error of a fraction ``p`` of ``n`` independent samples
    (binomial)."""
    return math.sqrt(p * (1 - p) / n)


def gap_in_noise(p1: float, p2: float, n1: int, n2: int, z: float = 2.0) -> bool:
    """Whether two fractions of independent samples differ by less than ``z`` standard
    errors of their difference: a gap that chance alone makes often."""
    se_difference = math.sqrt(proportion_se(p1, n1) ** 2 + proportion_se(p2, n2) ** 2)
    return abs(p1 - p2) < z * se_difference
