"""Prepare a folder of images once into a store that a loader reads at GPU speed (`minisagan prepare`).

    minisagan prepare ~/ILSVRC2012/train ~/imagenet128 --resolution 128 --workers 16

The source is laid out as torchvision's ImageFolder expects (``root/<class_name>/<images>``; ImageNet's
``train/`` is). Every image is cropped to the centred square on its long edge and resized to the
resolution with Pillow's antialiased bicubic filter; a JPEG is first decoded at 1/2, 1/4 or 1/8
scale in the DCT when that still leaves at least the resolution (`Image.draft`), which is most of
the speed. The store is a folder (`minisagan.data.store` reads it):

    images.u8      N x R x R x 3 uint8, row-major, no header (a numpy memory map)
    labels.npy     N int64 class indices
    manifest.json  classes, counts per class, resolution, crop and resize, the source folder,
                   the SHA-256 of images.u8, and what was converted or skipped, by reason

Nothing is lost and nothing is silent. The work goes into ``<target>.partial/`` in chunks whose
completion is recorded after their pixels are flushed, so an interrupted preparation, started again
with the same arguments, continues where it stopped. Files that are not images, unreadable or
truncated files are skipped; grayscale, CMYK, 16-bit, palette and transparent images are converted;
both are counted by reason in the manifest and in the lines printed at the end. Only when every chunk is
done are the skipped rows compacted away, the checksum computed and checked, and the folder renamed
to ``<target>``. A source without images, a target that exists, an unwritable target or a disk too
small for the store are errors before any work.
"""

import hashlib
import json
import os
import shutil
from collections import Counter
from contextlib import nullcontext
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from ..errors import DataError
from ..imagestore import STORE_FORMAT as FORMAT
from ..imagestore import centred_square, decode_small, square_pixels, store_images
from .folder import check_layout, to_rgb
from .shapes import check_resolution

CHUNK = 256  # images per unit of work (and of resumption)
EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
OK, NOT_IMAGE, UNREADABLE = 1, 2, 3  # per-image status (0: not done yet)
SKIP_REASONS = {NOT_IMAGE: "not an image file", UNREADABLE: "unreadable or truncated"}
CONVERTED = {"L": "grayscale", "LA": "grayscale", "1": "grayscale", "CMYK": "CMYK", "P": "palette",
             "PA": "palette", "RGBA": "transparency", "I;16": "16-bit", "I;16B": "16-bit", "I;16L": "16-bit",
             "I": "32-bit", "F": "32-bit float"}
CROP = "the centred square on the long edge"
RESIZE = "Pillow's antialiased bicubic resize, JPEGs first decoded at 1/2, 1/4 or 1/8 scale (Image.draft)"


def load_square(path: str | Path, resolution: int) -> tuple[np.ndarray, str | None]:
    """One image -> (uint8 [R, R, 3], what was converted or None), by Chapter 7's rule
    (`minisagan.imagestore`), converting any mode to RGB first (`to_rgb`). Raises OSError or
    UnidentifiedImageError for a file Pillow cannot read to the end."""
    with Image.open(path) as image:
        mode = image.mode
        box = centred_square(*image.size)  # on the full-size image, before the draft shrinks it
        reduction = decode_small(image, resolution)
        square = square_pixels(to_rgb(image), box, reduction, resolution)
    return square, (None if mode in ("RGB", "YCbCr") else CONVERTED.get(mode, mode))


def scan(source: Path) -> tuple[list[str], list[tuple[str, int]], list[str]]:
    """(classes, [(file, label)] in sorted order, empty class folders). Every regular file counts."""
    check_layout(source)
    classes = sorted(entry.name for entry in source.iterdir() if entry.is_dir())
    files, empty = [], []
    for label, name in enumerate(classes):
        found = sorted(str(p) for p in (source / name).rglob("*") if p.is_file())
        if not any(f.lower().endswith(EXTENSIONS) for f in found):
            empty.append(name)
        files += [(f, label) for f in found]
    if not any(f.lower().endswith(EXTENSIONS) for f, _ in files):
        raise DataError(f"{source}: no image files in its class folders (extensions {', '.join(EXTENSIONS)})")
    return classes, files, empty


def prepare(source: str | Path, target: str | Path, resolution: int = 128, workers: int | None = None,
            progress: bool = True) -> dict:
    """Prepare ``source`` into the store ``target`` (module docstring); returns the manifest."""
    check_resolution(resolution)
    source, target = Path(source).expanduser().resolve(), Path(target).expanduser().resolve()
    if target.exists():
        raise DataError(f"{target} exists; choose another target or delete it")
    classes, files, empty = scan(source)
    n, row = len(files), resolution * resolution * 3
    partial = target.with_name(target.name + ".partial")
    plan = {"format": FORMAT, "source": str(source), "resolution": resolution, "files": n,
            "fingerprint": hashlib.sha256("\n".join(f for f, _ in files).encode()).hexdigest()}
    _start(partial, plan, n * row)
    images = store_images(partial, n, resolution, mode="r+")
    status = np.memmap(partial / "status.u8", dtype=np.uint8, mode="r+", shape=(n,))
    todo = [c for c in range(0, n, CHUNK) if not status[c:c + CHUNK].all()]
    notes = Counter(json.loads((partial / "notes.json").read_text())) if (partial / "notes.json").exists() else Counter()
    jobs = [(partial, resolution, n, c, files[c:c + CHUNK]) for c in todo]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    bar = tqdm(total=n, initial=n - sum(min(CHUNK, n - c) for c in todo), unit="img", disable=not progress,
               desc=f"preparing {source.name} at {resolution}x{resolution}")
    with get_context("spawn").Pool(workers) if workers > 1 else nullcontext() as pool:
        for count, chunk_notes in (pool.imap_unordered if pool else map)(_prepare_chunk, jobs):
            notes.update(chunk_notes)
            (partial / "notes.json").write_text(json.dumps(notes))  # conversions survive a restart too
            bar.update(count)
    bar.close()
    del images
    status = np.asarray(np.memmap(partial / "status.u8", dtype=np.uint8, mode="r", shape=(n,)))
    manifest = _finish(partial, target, plan, classes, files, status, notes, empty, row)
    skipped = ", ".join(f"{v} {k}" for k, v in manifest["skipped"].items()) or "none"
    converted = ", ".join(f"{v} {k}" for k, v in manifest["converted"].items()) or "none"
    print(f"prepared {manifest['images']:,} images of {len(classes)} classes at {resolution}x{resolution} "
          f"({_size(manifest['bytes'])}) into\n  {target}\nskipped: {skipped}\nconverted: {converted}")
    return manifest


def _start(partial: Path, plan: dict, nbytes: int) -> None:
    """Create ``partial`` (checking the disk first) or check that the one there is this preparation's."""
    if partial.exists():
        try:
            before = json.loads((partial / "plan.json").read_text())
        except (OSError, ValueError):
            before = None
        if before != plan:
            raise DataError(f"{partial} holds an unfinished preparation of other files or another resolution; "
                            "delete it to start again")
        return
    parent = partial.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK):
        raise DataError(f"cannot write to {parent}: choose a target in a folder you can write")
    free = shutil.disk_usage(parent).free
    if free < nbytes * 1.01 + 2**20:
        raise DataError(f"{parent} has {_size(free)} free; the store of {plan['files']:,} files at "
                        f"{plan['resolution']}x{plan['resolution']} needs {_size(nbytes)}: choose a target on a larger "
                        "disk")
    partial.mkdir()
    for name, size in (("images.u8", nbytes), ("status.u8", plan["files"])):
        with open(partial / name, "wb") as handle:
            handle.truncate(size)
    (partial / "plan.json").write_text(json.dumps(plan, indent=2))


def _prepare_chunk(job) -> tuple[int, Counter]:
    partial, resolution, n, start, files = job
    images = store_images(partial, n, resolution, mode="r+")
    status = np.zeros(len(files), dtype=np.uint8)
    notes = Counter()
    for i, (path, _) in enumerate(files):
        if not path.lower().endswith(EXTENSIONS):
            status[i] = NOT_IMAGE
            continue
        try:
            images[start + i], converted = load_square(path, resolution)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            status[i] = UNREADABLE
            continue
        status[i] = OK
        if converted:
            notes[converted] += 1
    images.flush()  # the pixels first, then the record that they are there
    del images
    done = np.memmap(partial / "status.u8", dtype=np.uint8, mode="r+", shape=(n,))
    done[start:start + len(files)] = status
    done.flush()
    return len(files), notes


def _finish(partial: Path, target: Path, plan: dict, classes: list[str], files: list, status: np.ndarray,
            notes: Counter, empty: list[str], row: int) -> dict:
    """Compact the kept rows to the front, checksum, write labels and manifest, verify, rename."""
    keep = np.flatnonzero(status == OK)
    labels = np.array([files[i][1] for i in keep], dtype=np.int64)
    digest = hashlib.sha256()
    with open(partial / "images.u8", "r+b") as handle:
        for out, i in enumerate(keep):  # out <= i: every row moves forward or stays
            handle.seek(int(i) * row)
            pixels = handle.read(row)
            if out != i:
                handle.seek(out * row)
                handle.write(pixels)
            digest.update(pixels)
        handle.truncate(len(keep) * row)
        handle.flush()
        os.fsync(handle.fileno())
    np.save(partial / "labels.npy", labels)
    skipped = Counter(SKIP_REASONS[int(s)] for s in status[status != OK])
    manifest = {
        "format": FORMAT, "images": int(len(keep)), "resolution": plan["resolution"], "layout": "N x R x R x 3 uint8",
        "classes": classes, "counts": np.bincount(labels, minlength=len(classes)).tolist(),
        "crop": CROP, "resize": RESIZE, "source": plan["source"], "files_seen": plan["files"],
        "skipped": dict(skipped), "converted": dict(notes), "empty_classes": empty,
        "bytes": int(len(keep) * row), "sha256": digest.hexdigest(),
    }
    if sha256_of(partial / "images.u8") != manifest["sha256"] or len(np.load(partial / "labels.npy")) != len(keep):
        raise DataError(f"{partial}: the store does not read back as written (a failing disk?); delete it and "
                        "prepare again")
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for name in ("status.u8", "plan.json", "notes.json"):
        (partial / name).unlink(missing_ok=True)
    os.replace(partial, target)
    return manifest


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


def sha256_of(path: Path, block: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()
