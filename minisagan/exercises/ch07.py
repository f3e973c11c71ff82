"""Checkers for Chapter 7's exercises (the preparation of a JPEG, the sorted gather, the sizes of
the paper's experiment)."""

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.prepare import load_square
from . import CheckResult, call, check_number, checker, fail

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
    """Exercise 7.1: ``fn(path, resolution) -> uint8 [R, R, 3]``, the centred square resized."""
    with tempfile.TemporaryDirectory() as folder:
        for path in _photos(Path(folder)):
            expected, _ = load_square(path, 64)
            answer = np.asarray(call(fn, path, 64, form="(path, resolution)"))
            if answer.shape != (64, 64, 3) or answer.dtype != np.uint8:
                return CheckResult(False, f"{path.name}: expected uint8 of shape (64, 64, 3), got {answer.dtype} "
                                          f"{answer.shape}", "shape")
            difference = np.abs(answer.astype(np.int64) - expected.astype(np.int64)).mean()
            if difference > 3:
                for name, wrong, sentence in _wrong_squares(path, 64):
                    if np.abs(answer.astype(np.int64) - wrong.astype(np.int64)).mean() <= 3:
                        fail(f"{path.name}: {sentence}", name)
                return CheckResult(False, f"{path.name}: your square differs from load_square's by {difference:.1f} "
                                          "grey levels on average: is it the centred square, cut on the long edge?")
    return CheckResult(True, "the centred square of every photo, resized, matches load_square within 3 grey levels")


class _RecordingRows:
    """A stand-in for the memory map that records how it is indexed."""

    def __init__(self, rows: np.ndarray):
        self.rows, self.reads = rows, []

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        self.reads.append(np.asarray(index))
        return self.rows[index]


@checker
def check_sorted_gather(fn) -> CheckResult:
    """Exercise 7.2: ``fn(rows, indices) -> array``, the rows in the order asked, read in sorted order."""
    rng = np.random.default_rng(72)
    rows = rng.integers(0, 256, (50, 4, 4, 3), dtype=np.uint8)
    for indices in ([9, 2, 40, 2, 17], list(rng.permutation(50)[:16])):
        stand_in = _RecordingRows(rows)
        answer = np.asarray(call(fn, stand_in, np.array(indices), form="(rows, indices)"))
        if answer.shape == (len(indices), 4, 4, 3) and np.array_equal(answer, rows[np.sort(indices)]):
            fail(f"indices {indices}: the rows come back in sorted order; return them in the order asked "
                 "(undo the sort)", "rows-sorted")
        if answer.shape != (len(indices), 4, 4, 3) or not np.array_equal(answer, rows[indices]):
            return CheckResult(False, f"indices {indices}: the rows are not those asked for, in the order asked")
        reads = [r for r in stand_in.reads]
        if len(reads) != 1 or reads[0].ndim != 1 or np.any(np.diff(reads[0]) < 0):
            shown = [r.tolist() for r in reads]
            return CheckResult(False, f"indices {indices}: the memory map was read as {shown}; read it once, "
                                      "with the indices sorted", "many-reads" if len(reads) > 1 else "unsorted-read")
    return CheckResult(True, "one sorted read per batch, rows returned in the order asked")


@checker
def check_store_sizes(gib_128, gib_64, per_gpu) -> CheckResult:
    """Exercise 7.3: ImageNet's store in GiB at 128x128 and at 64x64, and the images per GPU of a
    global batch of 256 on 8 GPUs."""
    for answer, expected, what in ((gib_128, IMAGENET_TRAIN * 128 * 128 * 3 / 2**30, "the store at 128x128 (GiB)"),
                                   (gib_64, IMAGENET_TRAIN * 64 * 64 * 3 / 2**30, "the store at 64x64 (GiB)")):
        result = check_number(answer, expected, tol=0.5, what=what,
                              mistakes=[("gb-not-gib", expected * 2**30 / 1e9, GIB_NOT_GB)])
        if not result:
            return result
    return check_number(per_gpu, 256 / 8, tol=0, what="images per GPU", mistakes=[
        ("global-batch", 256, "256 is the global batch: torchrun splits it over the 8 processes")])
