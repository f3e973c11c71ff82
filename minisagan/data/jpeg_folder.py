"""A folder of JPEGs made from the built-in shapes, laid out as ImageNet's ``train/``, with the odd
files a real download holds: the smoke path of Chapter 7 and the tests of `minisagan prepare`.

    planted = write_jpeg_folder("/tmp/shapes-jpeg", per_class=8)

Image i of class c is item i of the 128x128 shapes of that class, pasted in the middle of a wider or
taller canvas of the background's colour (so the centred square on the long edge is the item again)
and saved as a JPEG of quality 90 whose size varies from about 160 to 500 pixels on the long edge.
With ``plant=True`` the folder also holds, in its first class folders: a text file, a truncated
JPEG, a grayscale JPEG, a CMYK JPEG, a 16-bit grayscale PNG, a transparent PNG, and one class folder
with no image at all. Returns what was planted, by the reason `minisagan prepare` gives for it.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from .pixels import to_uint8
from .shapes import SHAPE_NAMES, sample_shapes

EMPTY_CLASS = "zz_empty"


def write_jpeg_folder(root: str | Path, per_class: int = 8, seed: int = 0, plant: bool = True) -> dict:
    root = Path(root)
    rng = np.random.default_rng(seed)
    n = per_class * len(SHAPE_NAMES)
    images, labels = sample_shapes(n, resolution=128, seed=seed)
    pixels = to_uint8(images).permute(0, 2, 3, 1)  # [n, 128, 128, 3], as a file holds them
    for name in SHAPE_NAMES:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        square = Image.fromarray(pixels[i].numpy())
        side = int(rng.integers(160, 376))  # the square's side in the file, px
        long = int(side * rng.uniform(1.0, 1.34))
        size = (long, side) if rng.random() < 0.75 else (side, long)  # mostly landscape, as photos
        canvas = Image.new("RGB", size, tuple(int(v) for v in pixels[i, 0, 0]))
        canvas.paste(square.resize((side, side), Image.Resampling.BICUBIC), ((size[0] - side) // 2,
                                                                            (size[1] - side) // 2))
        canvas.save(root / SHAPE_NAMES[int(labels[i])] / f"{i:06d}.JPEG", quality=90)
    if not plant:
        return {}
    first, second = root / SHAPE_NAMES[0], root / SHAPE_NAMES[1]
    (first / "README.txt").write_text("not an image\n")
    whole = (first / f"{0:06d}.JPEG").read_bytes()
    (second / "truncated.JPEG").write_bytes(whole[: len(whole) // 2])
    source = Image.open(first / f"{0:06d}.JPEG")
    source.convert("L").save(second / "grey.JPEG", quality=90)
    source.convert("CMYK").save(second / "cmyk.JPEG", quality=90)
    grey16 = (np.asarray(source.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(second / "deep.png")  # 16-bit grayscale ("I;16")
    rgba = source.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(second / "alpha.png")
    (root / EMPTY_CLASS).mkdir(exist_ok=True)
    return {"skipped": {"not an image file": 1, "unreadable or truncated": 1},
            "converted": {"grayscale": 1, "CMYK": 1, "16-bit": 1, "transparency": 1},
            "empty_classes": [EMPTY_CLASS], "images": n + 4}
