"""A folder of real images, laid out as torchvision's ImageFolder expects: root/<class_name>/<images>.

    dataset = image_folder("~/data/imagenet64/train", resolution=64)
    image, label = dataset[0]  # [3, 64, 64] in [-1, 1], class index into dataset.classes

Problems a reader is likely to hit (a wrong path, a folder of loose images, an empty class folder,
a truncated download) raise `DataError` naming the path, instead of an error deep inside torchvision.
"""

from pathlib import Path

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
    _check_layout(root)
    transform = transforms.Compose([
        transforms.Resize(resolution),
        transforms.CenterCrop(resolution),
        transforms.ToTensor(),  # [3, S, S] in [0, 1]
        transforms.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),  # -> [-1, 1], the GAN convention
    ])
    try:
        return ImageFolder(root, transform=transform, loader=load_rgb)
    except FileNotFoundError as error:  # torchvision's complaint about class folders without images
        raise DataError(f"{root}: every class folder must hold image files with one of the extensions "
                        f"{', '.join(IMG_EXTENSIONS)} ({error})") from None


def _check_layout(root: Path) -> None:
    if not root.exists():
        raise DataError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{root} is a file; expected a folder laid out as {root}/<class_name>/<image files>")
    if not any(child.is_dir() for child in root.iterdir()):
        raise DataError(f"{root} holds no class subfolders; expected {root}/<class_name>/<image files> "
                        "(for unlabelled images, put them all in one subfolder)")


def load_rgb(path: str) -> Image.Image:
    """Open an image file as RGB; a file PIL cannot read raises `DataError` naming it."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"cannot read image {path}: {error}; delete or replace the file") from None
