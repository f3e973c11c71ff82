"""Checkers for Chapter 7's exercises (the preparation of a JPEG, the streaming statistics of the
reference, the sizes of the paper's experiment)."""

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.prepare import load_square
from . import CheckResult, all_parts, call, check_number, checker, each_case, fail, part, shown

IMAGENET_TRAIN = 1_281_167  # images in ILSVRC2012's train/
GIB_NOT_GB = "that is in GB (10^9 bytes); a GiB is 2^30 bytes"


def _photos(folder: Path) -> list[Path]:
    """Three JPEGs with detail at every scale: landscape, portrait, and one too small for a draft."""
    rng = np.random.default_rng(7)
    paths = []
    for i, (w, h) in enumerate(((500, 375), (333, 500), (150, 140))):
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        pixels = np.stack([128 + 90 * np.sin(x / (17 + 9 * c) + y / (23 - 5 * c)) for c in range(3)], axis=-1)
        pixels += 60 * ((x - w / 3) ** 2 + (y - h / 2) ** 2 < (h / 5) ** 2)[..., None] + rng.normal(0, 6, (h, w, 3))
        paths.append(folder / f"photo{i}.jpg")
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(paths[-1], quality=90)
    return paths


def _wrong_squares(path: Path, resolution: int) -> list[tuple[str, np.ndarray, str]]:
    """The squares a reader gets by squashing the photo or cutting the square at its corner."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        w, h = image.size
        s = min(w, h)
        resize = lambda box: np.asarray(image.resize((resolution, resolution), Image.Resampling.BICUBIC, box=box))
        return [("squashed", resize((0, 0, w, h)), "the whole photo is squashed into the square: cut the centred "
                 "square first, on the long edge"),
                ("not-centred", resize((0, 0, s, s)), "the square is cut at the top-left corner: centre it")]


@checker
def check_load_square(fn) -> CheckResult:
    """Exercise 7.1: ``fn(path, resolution) -> uint8 [R, R, 3]``, the centred square resized; a share
    of the three photos (landscape, portrait, small) for partial credit."""
    def check_one(path: Path) -> None:
        expected, _ = load_square(path, 64)
        answer = np.asarray(call(fn, path, 64, form="(path, resolution)"))
        if answer.shape != (64, 64, 3) or answer.dtype != np.uint8:
            fail(f"{path.name}: expected uint8 of shape (64, 64, 3), got {answer.dtype} {answer.shape}", "shape")
        difference = np.abs(answer.astype(np.int64) - expected.astype(np.int64)).mean()
        if difference > 3:
            for name, wrong, sentence in _wrong_squares(path, 64):
                if np.abs(answer.astype(np.int64) - wrong.astype(np.int64)).mean() <= 3:
                    fail(f"{path.name}: {sentence}", name)
            with Image.open(path) as image:
                size = image.size
            fail(f"{path.name} ({size[0]}x{size[1]}): your square differs from load_square's by {difference:.1f} "
                 "grey levels on average: is it the centred square, cut on the long edge?")

    with tempfile.TemporaryDirectory() as folder:
        return each_case(_photos(Path(folder)), check_one,
                         "every photo's centred square, resized, matches load_square within 3 grey levels")


class _Once:
    """Feature batches that can be read once, as a pass over 1.28 million images is: a second
    ``iter`` is counted."""

    def __init__(self, batches: list[np.ndarray]):
        self.batches, self.passes = batches, 0

    def __iter__(self):
        self.passes += 1
        return iter(self.batches) if self.passes == 1 else iter(())


@checker
def check_streaming_moments(fn) -> CheckResult:
    """Exercise 7.2: ``fn(batches) -> (n, mu, sigma)``, the mean and unbiased covariance of every row
    of the float32 batches, in one pass."""
    rng = np.random.default_rng(74)
    mixing = rng.normal(size=(6, 6))
    rows = (3000 + rng.normal(size=(4000, 6)) @ mixing).astype(np.float32)  # far from 0, as Inception's are not
    batches = _Once([rows[i:i + 250] for i in range(0, len(rows), 250)])
    answer = call(fn, batches, form="(batches)")
    if batches.passes > 1:
        fail("the batches were read more than once: a pass over 1.28 million images is read once; keep the "
             "sums as you go", "two-passes")
    try:
        n, mu, sigma = answer
        single = np.asarray(sigma).dtype == np.float32
        mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"expected (n, mu, sigma), got {type(answer).__name__}", "shape")
    every = rows.astype(np.float64)
    if mu.shape != (6,) or sigma.shape != (6, 6):
        return CheckResult(False, f"expected mu of shape (6,) and sigma (6, 6); got {mu.shape} and {sigma.shape}",
                           "shape")
    return all_parts([_count_part(n, len(rows)), _mean_part(mu, every.mean(0)), _covariance_part(sigma, every, single)],
                     said=f"{len(rows)} rows in one pass: the mean and numpy.cov's covariance in float64")


def _count_part(n, rows: int) -> CheckResult:
    try:
        right = int(n) == rows
    except (TypeError, ValueError):
        right = False
    return part(right, f"n = {rows}", f"n is {n!r}, expected {rows}: count every row of every batch")


def _mean_part(mu: np.ndarray, expected: np.ndarray) -> CheckResult:
    error = np.abs(mu - expected).max()  # float32 sums: about 3e-4 off
    return part(error <= 1e-3, "mu right", f"mu is off by up to {error:.2g} (expected {shown(expected)}, got "
                                           f"{shown(mu)})")


def _covariance_part(sigma: np.ndarray, every: np.ndarray, single: bool) -> CheckResult:
    expected = np.cov(every, rowvar=False)
    if np.allclose(sigma, np.cov(every, rowvar=False, bias=True), rtol=0, atol=1e-6):
        return CheckResult(False, "sigma divides by n: the unbiased covariance, as numpy.cov's, divides by n - 1",
                           "biased")
    error, scale = np.abs(sigma - expected).max(), np.abs(expected).max()
    if error > 1e-6 * scale:  # float32 sums land 0.1 to 1 times the covariance off here
        mistake = "float32-sums" if single or 0.01 * scale < error < 2 * scale else ""
        hint = (": are the sums kept in float32? Around a mean of 3000, sum(x x^T) needs the digits float32 "
                "drops; add each batch in float64") if mistake else ""
        return CheckResult(False, f"sigma is off by up to {error:.3g} (its first row: expected "
                                  f"{shown(expected[0])}, got {shown(sigma[0])}){hint}", mistake)
    return CheckResult(True, "sigma right")


@checker
def check_store_sizes(gib_128, gib_64, per_gpu) -> CheckResult:
    """Exercise 7.3: ImageNet's store in GiB at 128x128 and at 64x64, and the images per GPU of a
    global batch of 256 on 8 GPUs."""
    parts = [check_number(answer, IMAGENET_TRAIN * side * side * 3 / 2**30, tol=0.5, what=f"the store at "
                          f"{side}x{side} (GiB)", mistakes=[("gb-not-gib", IMAGENET_TRAIN * side * side * 3 / 1e9,
                                                             GIB_NOT_GB)])
             for answer, side in ((gib_128, 128), (gib_64, 64))]
    parts.append(check_number(per_gpu, 256 / 8, tol=0, what="images per GPU", mistakes=[
        ("global-batch", 256, "256 is the global batch: torchrun splits it over the 8 processes")]))
    said = (f"the stores take {float(gib_128):.1f} and {float(gib_64):.1f} GiB; each GPU sees "
            f"{float(per_gpu):g} images a step") if all(part.passed for part in parts) else ""
    return all_parts(parts, said=said)
