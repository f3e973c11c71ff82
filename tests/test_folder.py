"""A folder of real images loads as square [-1, 1] tensors, and every layout mistake names the path."""

import re

import pytest
import torch
from PIL import Image

from minisagan.data import image_folder
from minisagan.errors import DataError


def write_image(path, size, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


@pytest.fixture
def folder(tmp_path):
    """root/cats (two images) and root/dogs (one), of odd sizes and formats."""
    root = tmp_path / "pets"
    write_image(root / "cats" / "a.png", (50, 40), (255, 0, 0))
    write_image(root / "cats" / "b.jpg", (33, 71), (0, 255, 0))
    write_image(root / "dogs" / "c.png", (128, 128), (0, 0, 255))
    return root


@pytest.mark.filterwarnings("ignore:.*smaller than")  # two of the images are, at 64 and 128
@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_images_become_square_tensors_in_gan_range(folder, resolution):
    dataset = image_folder(folder, resolution)
    assert dataset.classes == ["cats", "dogs"] and len(dataset) == 3
    for image, label in dataset:
        assert image.shape == (3, resolution, resolution)
        assert -1 <= image.min() and image.max() <= 1
    red, label = dataset[0]
    assert label == 0
    # A uniform red PNG is exactly (1, -1, -1) everywhere after normalisation.
    torch.testing.assert_close(red, torch.tensor([1.0, -1.0, -1.0])[:, None, None].expand_as(red))


def test_grey_images_are_loaded_as_rgb(tmp_path):
    path = tmp_path / "root" / "only" / "grey.png"
    path.parent.mkdir(parents=True)
    Image.new("L", (40, 40), 128).save(path)
    image, _ = image_folder(tmp_path / "root", 32)[0]
    assert image.shape == (3, 32, 32)


def test_missing_path_is_named(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"image folder {tmp_path / 'nowhere'} does not exist")):
        image_folder(tmp_path / "nowhere")


def test_a_file_instead_of_a_folder_is_named(tmp_path):
    write_image(tmp_path / "one.png", (10, 10), (0, 0, 0))
    with pytest.raises(DataError, match="one.png is a file; expected a folder"):
        image_folder(tmp_path / "one.png")


def test_loose_images_without_class_subfolders_are_an_error(tmp_path):
    write_image(tmp_path / "one.png", (10, 10), (0, 0, 0))
    with pytest.raises(DataError, match=re.escape(f"{tmp_path} holds no class subfolders") + ".*<class_name>"):
        image_folder(tmp_path)


def test_class_folders_without_images_list_the_accepted_extensions(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"must hold image files .*\.jpg.*\.png"):
        image_folder(tmp_path)


def test_a_corrupt_image_names_the_file_before_any_training(folder):
    (folder / "dogs" / "broken.png").write_bytes(b"this is not a PNG")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        image_folder(folder)  # every header is read when the folder is opened


def test_a_truncated_image_names_the_file_when_read(folder):
    good = (folder / "dogs" / "c.png").read_bytes()
    (folder / "dogs" / "cut.png").write_bytes(good[: len(good) // 2])  # the header survives, the pixels do not
    dataset = image_folder(folder)
    cut = [path for path, _ in dataset.samples].index(str(folder / "dogs" / "cut.png"))
    with pytest.raises(DataError, match="cannot read image .*cut.png"):
        dataset[cut]


def test_unsupported_resolution_names_the_allowed_ones(folder):
    with pytest.raises(ValueError, match=r"one of \(32, 64, 128\), got 100"):
        image_folder(folder, 100)
