"""A folder of real images, laid out as torchvision's ImageFolder expects: root/<class_name>/<images>.

    dataset = image_folder("~/data/imagenet64/train", resolution=64)
    image, label = dataset[0]  # [3, 64, 64] in [-1, 1], class index into dataset.classes

Problems a reader is likely to hit (a wrong path, a folder of loose images, an empty class folder,
a truncated download) raise `DataError` naming the path, instead of an error deep inside torchvision.
Every mode Pillow opens becomes 8-bit RGB by its own range (`to_rgb`): 16-bit and 32-bit integer
and float images are scaled, not clipped; transparent pixels are laid on black. Images smaller than
the training resolution are upsampled, with one warning that counts them.
"""

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from torchvision import transforms
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from ..errors import DataError
from .shapes import check_resolution


def image_folder(root: str | Path, resolution: int = 32) -> ImageFolder:
    """Images under `root`/<class_name>/ as [3, S, S] float tensors in [-1, 1], with integer labels.

    Each image is resized so that its shorter side is `resolution` pixels, then centre-cropped to a
    square; classes are the subfolder names in sorted order.
    """
    check_resolution(resolution)
    root = Path(root).expanduser()
    check_layout(root)
    transform = transforms.Compose([
        transforms.Resize(resolution),
        transforms.CenterCrop(resolution),
        transforms.ToTensor(),  # [3, S, S] in [0, 1]
        transforms.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),  # -> [-1, 1], the GAN convention
    ])
    try:
        dataset = ImageFolder(root, transform=transform, loader=load_rgb)
    except FileNotFoundError as error:  # torchvision's complaint about class folders without images
        raise DataError(f"{root}: every class folder must hold image files with one of the extensions "
                        f"{', '.join(IMG_EXTENSIONS)} ({error})") from None
    _warn_about_small_images(root, [path for path, _ in dataset.samples], resolution)
    return dataset


def _warn_about_small_images(root: Path, paths: list[str], resolution: int) -> None:
    """One warning that counts the images whose shorter side is below ``resolution`` (read from the
    files' headers, nothing decoded)."""
    small = []
    for path in paths:
        try:
            with Image.open(path) as image:
                size = image.size
        except (UnidentifiedImageError, OSError) as error:
            raise DataError(f"cannot read image {path}: {error}; delete or replace the file") from None
        if min(size) < resolution:
            small.append(size)
    if small:
        w, h = min(small, key=min)
        warnings.warn(f"{len(small)} of {len(paths)} images in {root} are smaller than {resolution}x{resolution} "
                      f"(the smallest is {w}x{h}): they are upsampled, which blurs them", stacklevel=3)


def check_layout(root: Path) -> None:
    if not root.exists():
        raise DataError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{root} is a file; expected a folder laid out as {root}/<class_name>/<image files>")
    if not any(child.is_dir() for child in root.iterdir()):
        raise DataError(f"{root} holds no class subfolders; expected {root}/<class_name>/<image files> "
                        "(for unlabelled images, put them all in one subfolder)")


def load_rgb(path: str) -> Image.Image:
    """Open an image file as 8-bit RGB (`to_rgb`); a file PIL cannot read raises `DataError` naming it."""
    try:
        with Image.open(path) as image:
            try:
                return to_rgb(image)
            except ValueError:  # a mode Pillow opens but cannot convert
                raise DataError(f"cannot convert image {path} (mode {image.mode}) to RGB; save it as an 8-bit "
                                "RGB image") from None
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"cannot read image {path}: {error}; delete or replace the file") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any image Pillow opens -> 8-bit RGB, each mode by its own range.

    - 16-bit (``I;16*``): value / 65535; 32-bit integer (``I``): as 8-bit when it stays within 0..255,
      as 16-bit within 0..65535, else its own min..max; float (``F``): [0, 1] when it stays there,
      0..255 when it stays there, else its own min..max. ``convert("RGB")`` would clip them instead.
    - transparency (``RGBA``, ``LA``, ``PA``, a palette with a transparent colour): laid on black.
    - everything else (``L``, ``1``, ``P``, ``CMYK``, ``YCbCr``, ...): Pillow's own conversion.
    """
    if image.mode == "RGB":  # already: decoded in place, no copy
        image.load()
        return image
    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        if image.mode.startswith("I;16"):
            scale = (0.0, 65535.0)
        elif image.mode == "F" and low >= 0 and high <= 1:
            scale = (0.0, 1.0)
        elif low >= 0 and high <= 255:
            scale = (0.0, 255.0)
        elif image.mode == "I" and low >= 0 and high <= 65535:
            scale = (0.0, 65535.0)
        else:
            scale = (low, max(high, low + 1e-12))
        grey = np.clip((values - scale[0]) / (scale[1] - scale[0]) * 255 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(np.stack([grey] * 3, axis=-1), mode="RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba).convert("RGB")
    return image.convert("RGB")
