# Generated from book/07_imagenet.md by minisagan.bookbuild.mirror.
# Do not edit: change the chapter, then run `make mirror`.


# --- book/07_imagenet.md, section: The reference: statistics of the whole training set
"""The reference of the paper's FID: the mean and covariance of the features of every
image of a prepared store, in one streaming pass with float64 sums, resumable, cached
under the store's checksum (Chapter 7); and the same statistics of a generator's
samples, streamed likewise."""

import csv
import json
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torch_fidelity.utils import create_feature_extractor
from tqdm.auto import tqdm

from minisagan.checkpoint import write_atomically
from minisagan.data.shapes_classifier import register_shapes_extractor
from minisagan.metrics import EXTRACTORS, balanced_classes, inception_weights, to_uint8

CACHE_ENV = "MINISAGAN_CACHE"


def cache_folder() -> Path:
    """What is computed once for many runs: ``$MINISAGAN_CACHE``, else
    ``$XDG_CACHE_HOME/minisagan``, else ``~/.cache/minisagan``; never the data's
    folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache.expanduser() / "minisagan"


class FeatureMoments:
    """Running float64 sums of feature vectors [B, dim]: their count, sum and sum of
    outer products."""

    def __init__(self, dim: int, device="cpu"):
        self.n = 0
        # sum_i x_i [dim] and sum_i x_i x_i^T [dim, dim]
        self.total = torch.zeros(dim, dtype=torch.float64, device=device)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64, device=device)

    def add(self, features: torch.Tensor) -> None:
        x = features.to(self.total.device, torch.float64)  # [B, dim]
        self.n += len(x)
        self.total += x.sum(0)
        self.outer += x.T @ x

    def statistics(self) -> dict:
        """{"mu": [dim], "sigma": [dim, dim]} as numpy float64 (torch-fidelity's form),
        and "n"."""
        if self.n < 2:
            raise ValueError("a covariance needs at least 2 feature vectors, "
                             f"got {self.n}")
        mu = self.total / self.n
        sigma = (self.outer - self.n * torch.outer(mu, mu)) / (self.n - 1)
        return {"mu": mu.cpu().numpy(), "sigma": sigma.cpu().numpy(), "n": self.n}

    def state(self) -> dict:
        return {"n": np.int64(self.n), "total": self.total.cpu().numpy(),
                "outer": self.outer.cpu().numpy()}

    def load(self, state) -> None:
        self.n = int(state["n"])
        self.total.copy_(torch.from_numpy(state["total"]))
        self.outer.copy_(torch.from_numpy(state["outer"]))


def feature_extractor(features: str = "inception", weights=None, device="cpu"):
    """torch-fidelity's extractor of the features FID uses ("inception": 2048 pool
    features of the paper's network; "shapes": the built-in classifier's 128) and their
    dimension."""
    name, dim = EXTRACTORS[features]
    if features == "inception":
        weights = inception_weights(weights)
    else:
        register_shapes_extractor()
    extractor = create_feature_extractor(
        name, [str(dim)], cuda=torch.device(device).type == "cuda", verbose=False,
        feature_extractor_weights_path=None if weights is None else str(weights))
    return extractor, dim


def _save_npz(path: Path, arrays: dict) -> None:
    write_atomically(path, lambda handle: np.savez(handle, **arrays))


@torch.no_grad()
def store_statistics(store, features: str = "inception", *, weights=None, device="cpu",
                     batch_size: int = 250, save_every: float = 300.0,
                     progress: bool = True, extractor=None) -> dict:
    """The mean and covariance of the features of every image of ``store`` (an
    `ImageStore`), read in its order. Cached in
    ``cache_folder()/statistics/<checksum>-<features>.npz``; while computing, the sums
    are saved every ``save_every`` seconds (``...partial.npz``), and a pass started
    again goes on from there."""
    checksum = str(store.manifest.get("sha256", ""))[:16]
    if not checksum:
        raise ValueError(f"the store {store.path} has no checksum in its "
                         "manifest.json; prepare it again")
    folder = cache_folder() / "statistics"
    final = folder / f"{checksum}-{features}.npz"
    partial = folder / f"{checksum}-{features}.partial.npz"
    if final.is_file():
        with np.load(final) as cached:
            return {"mu": cached["mu"], "sigma": cached["sigma"], "n": int(cached["n"])}
    extractor, dim = extractor or feature_extractor(features, weights, device)
    moments, start = FeatureMoments(dim, device), 0
    if partial.is_file():
        with np.load(partial) as saved:
            moments.load(saved)
            start = int(saved["next"])
    saved_at = time.monotonic()
    for begin in tqdm(range(start, len(store), batch_size), desc="reference statistics",
                      disable=not progress, initial=start // batch_size,
                      total=-(-len(store) // batch_size)):
        rows = np.arange(begin, min(begin + batch_size, len(store)))
        # uint8 [B, 3, R, R], in file order
        images = store.gather(rows)[0].permute(0, 3, 1, 2).to(device)
        moments.add(extractor(images)[0])
        if time.monotonic() - saved_at > save_every:
            _save_npz(partial, {**moments.state(), "next": np.int64(rows[-1] + 1)})
            saved_at = time.monotonic()
    statistics = moments.statistics()
    _save_npz(final, {**statistics, "n": np.int64(statistics["n"])})
    partial.unlink(missing_ok=True)
    return statistics


@torch.no_grad()
def generator_statistics(G, n: int, *, z_dim: int, num_classes: int = 0, seed: int = 0,
                         extractor, dim: int, device="cpu", batch_size: int = 250,
                         progress: bool = True) -> dict:
    """The same statistics of ``n`` samples of G, streamed: the noise of
    `minisagan.metrics.sample_images` (the same ``seed`` draws the same samples) and
    classes balanced, i mod num_classes."""
    z_all = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    moments = FeatureMoments(dim, device)
    was_training = G.training
    G.eval()
    for start in tqdm(range(0, n, batch_size), desc="sample statistics",
                      disable=not progress):
        z = z_all[start:start + batch_size].to(device)
        y = (balanced_classes(len(z), num_classes, start).to(device)
             if num_classes else None)
        moments.add(extractor(to_uint8(G(z, y) if num_classes else G(z)))[0])
    G.train(was_training)
    return moments.statistics()


def frechet_distance(a: dict, b: dict) -> float:
    """FID between two sets of statistics ({"mu", "sigma"}), by torch-fidelity's
    formula."""
    distance = fid_statistics_to_metric(a, b, verbose=False)
    return float(distance["frechet_inception_distance"])


# --- book/07_imagenet.md, section: The reference: statistics of the whole training set
def in_run_picks(num_images: int, n: int, seed: int) -> torch.Tensor:
    """The indices of the ``n`` training images a run's evaluations compare with: a
    fixed random draw by ``seed``, the same at every evaluation and on resume."""
    return torch.randperm(num_images, generator=torch.Generator().manual_seed(seed))[:n]


def in_run_protocol(*, n: int, seed: int, data: str, num_images: int, weights: str,
                    average: bool) -> dict:
    """How a run's Inception metrics are measured, as written to
    ``RUN/protocol.json``."""
    return {
        "features": "Inception v3 of TF-FID (pt_inception-2015-12-05), "
                    "through torch-fidelity",
        "weights": str(weights),
        "resize": "torch-fidelity's: bilinear to 299x299 inside the feature "
                  "extractor, from uint8 images",
        "reference": f"{n} real images drawn (seed {seed}) from {data} "
                     f"({num_images} images)",
        "samples": f"{n} from the generator{' average' if average else ''}, "
                   "classes balanced, fixed noise",
        "IS splits": 10, "KID subsets of": min(1000, n),
        "paper's protocol": "50,000 samples; the public pipelines compare them with "
                            "every training image: minisagan evaluate CHECKPOINT "
                            "--n 50000 --reference train",
    }


# --- book/07_imagenet.md, section: What to expect
# The paper's points (Figure 4: spectral norm on G and D with TTUR, no attention, 1:1
# updates) and the final numbers of Table 2 and of the public reproductions, each with
# the recipe it used.
PAPER_FID_PATH = {10_000: 99.04, 160_000: 40.96, 260_000: 34.62, 1_000_000: 22.96}
FINAL_POINTS = (  # (label, FID, IS)
    ("paper, Table 2 (feat64)", 18.65, 52.52),
    ("StudioGAN, the paper's recipe", 34.73, 29.85),
    ("MMGeneration, BigGAN-PyTorch's recipe with an average of G", 12.83, 69.54),
)


def run_points(run, features: str = "inception") -> dict[str, dict[int, float]]:
    """A run's FID and IS by step on ``features`` ("inception", or "shapes" on the
    built-in data): ``in-run`` from its eval.csv, ``checkpoints`` from the evaluations
    of its kept checkpoints (the whole-training-set FID where there is one)."""
    run = Path(run)
    points = {key: {} for key in ("in-run FID", "in-run IS", "checkpoints FID",
                                  "checkpoints IS")}
    if (run / "eval.csv").is_file():
        with open(run / "eval.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                for key, column in (("in-run FID", f"fid_{features}"),
                                    ("in-run IS", f"is_{features}")):
                    if row.get(column) not in (None, "", "nan"):
                        points[key][int(row["step"])] = float(row[column])
    for path in sorted((run / "checkpoints").glob("step_*.evaluation.json")):
        found = json.loads(path.read_text())
        step = int(path.name.split(".")[0].removeprefix("step_"))
        fid = found.get(f"fid_{features}_train", found.get(f"fid_{features}"))
        if fid is not None:
            points["checkpoints FID"][step] = fid
        if found.get(f"is_{features}") is not None:
            points["checkpoints IS"][step] = found[f"is_{features}"]
    return points


def best_checkpoint(run, features: str = "inception") -> tuple[Path, float] | None:
    """The kept checkpoint of ``run`` with the lowest evaluated FID, and that FID (None
    if none is evaluated)."""
    fids = run_points(run, features)["checkpoints FID"]
    if not fids:
        return None
    step = min(fids, key=fids.get)
    return Path(run) / "checkpoints" / f"step_{step:07d}.pt", fids[step]


def curves_figure(runs=(), features: str = "inception"):
    """FID and IS against iterations: each run's, and on Inception features the paper's
    path and final points and the reproductions' (numbers on other features are not
    comparable with them)."""
    fig, (ax_fid, ax_is) = plt.subplots(1, 2, figsize=(12, 3.8))
    paper = features == "inception"
    if paper:
        ax_fid.plot(list(PAPER_FID_PATH), list(PAPER_FID_PATH.values()), "o--",
                    color="grey",
                    label="paper, Figure 4 (SN on G and D, TTUR, no attention)")
        colours = ("tab:red", "tab:blue", "tab:green")
        for (label, fid, inception_score), colour in zip(FINAL_POINTS, colours):
            ax_fid.axhline(fid, color=colour, linestyle=":", label=f"{label}: {fid}")
            ax_is.axhline(inception_score, color=colour, linestyle=":",
                          label=f"{label}: {inception_score}")
    for run in map(Path, runs):
        points = run_points(run, features)
        for ax, metric in ((ax_fid, "FID"), (ax_is, "IS")):
            for kind, style in (("in-run", "^-"), ("checkpoints", "s-")):
                series = points[f"{kind} {metric}"]
                if series:
                    ax.plot(list(series), list(series.values()), style,
                            label=f"{run.name}, {kind}")
    ax_fid.set(title=f"FID on {features} features (lower is better)",
               xlabel="iteration", xscale="log")
    ax_is.set(title=f"IS on {features} features (higher is better)",
              xlabel="iteration", xscale="log")
    if paper:
        ax_fid.set(ylim=(0, 110))
        ax_is.set(ylim=(0, 80), xlim=(5_000, 1_100_000))
    for ax in (ax_fid, ax_is):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig
