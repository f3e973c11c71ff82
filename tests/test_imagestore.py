"""Chapter 7's store (`minisagan.imagestore`) against independent computations: the centred square
cut with Pillow's own crop, the draft's scale against the decoded size, the file's bytes against
numpy's, the gather against plain indexing with its reads recorded; and the in-run protocol's
picks."""

import numpy as np
import pytest
import torch
from PIL import Image

from minisagan.imagenet import in_run_picks, in_run_protocol
from minisagan.imagestore import (centred_square, decode_small, gather, square_pixels, store_images,
                                  to_model_input)


@pytest.mark.parametrize("size, box", [((500, 375), (62.5, 0, 437.5, 375)), ((300, 400), (0, 50, 300, 350)),
                                       ((64, 64), (0, 0, 64, 64))])
def test_the_centred_square_by_hand(size, box):
    assert centred_square(*size) == box


def photo(path, size, kind="JPEG"):
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    pixels = np.stack([(x * 3 + y) % 256, (y * 5) % 256, rng.integers(0, 256, x.shape)], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(path, kind, quality=95)
    return path


@pytest.mark.parametrize("size, resolution, reduction", [((500, 375), 128, 2), ((1000, 800), 64, 8),
                                                         ((150, 140), 128, 1)])
def test_the_draft_decodes_as_small_as_keeps_the_square_at_the_resolution(tmp_path, size, resolution, reduction):
    with Image.open(photo(tmp_path / "p.jpg", size)) as image:
        got = decode_small(image, resolution)
        image.load()
        assert got == reduction and min(image.size) >= resolution
        assert image.size[0] == -(-size[0] // reduction)  # what libjpeg's scaled decode gives


def test_a_png_is_never_drafted(tmp_path):
    with Image.open(photo(tmp_path / "p.png", (500, 375), "PNG")) as image:
        assert decode_small(image, 64) == 1 and image.size == (500, 375)


def test_the_square_equals_pillows_crop_then_resize(tmp_path):
    with Image.open(photo(tmp_path / "p.png", (300, 400), "PNG")) as image:
        image = image.convert("RGB")
        expected = np.asarray(image.crop((0, 50, 300, 350)).resize((64, 64), Image.Resampling.BICUBIC))
        got = square_pixels(image, centred_square(300, 400), 1, 64)
    assert got.dtype == np.uint8 and got.shape == (64, 64, 3)
    # inside the border: resizing with a box reads the pixels just beyond it, a crop clamps at its edge
    assert np.abs(got.astype(int) - expected)[2:-2, 2:-2].max() <= 1


def test_a_drafted_square_stays_near_the_full_size_one(tmp_path):
    path = photo(tmp_path / "p.jpg", (500, 375))
    with Image.open(path) as image:
        box = centred_square(*image.size)
        reduction = decode_small(image, 128)
        fast = square_pixels(image.convert("RGB"), box, reduction, 128)
    with Image.open(path) as image:
        full = square_pixels(image.convert("RGB"), box, 1, 128)
    assert np.abs(fast.astype(int) - full).mean() < 6  # noise pixels: the low frequencies agree


def test_the_store_file_is_the_rows_bytes_and_gather_reads_once_in_order(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (7, 4, 4, 3), dtype=np.uint8)
    written = store_images(tmp_path, 7, 4, mode="w+")
    written[:] = pixels
    written.flush()
    del written
    assert (tmp_path / "images.u8").read_bytes() == pixels.tobytes()  # no header, row-major

    class Recording(np.ndarray):
        reads: list = []

        def __getitem__(self, index):
            Recording.reads.append(np.asarray(index).copy())
            return np.asarray(self)[index]

    rows = store_images(tmp_path, 7, 4).view(np.ndarray).view(Recording)
    labels = np.arange(7) * 10
    images, got_labels = gather(rows, labels, [5, 0, 5, 3])
    assert torch.equal(images, torch.from_numpy(pixels[[5, 0, 5, 3]])) and got_labels.tolist() == [50, 0, 50, 30]
    assert len(Recording.reads) == 1 and Recording.reads[0].tolist() == [0, 3, 5, 5]  # one sorted read


def test_model_input_is_the_affine_map_of_the_bytes():
    rows = torch.tensor([[[[0, 255, 128]]]], dtype=torch.uint8)  # [1, 1, 1, 3]
    batch = to_model_input(rows, "cpu")
    assert batch.shape == (1, 3, 1, 1)
    assert torch.allclose(batch.flatten(), torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]), atol=1e-6)
    floats = torch.zeros(2, 3, 4, 4)
    assert to_model_input(floats, "cpu") is floats  # already the networks' input: passes through


def test_in_run_picks_are_fixed_distinct_and_differ_by_seed():
    picks = in_run_picks(1000, 50, seed=0)
    assert torch.equal(picks, in_run_picks(1000, 50, seed=0)) and len(set(picks.tolist())) == 50
    assert int(picks.min()) >= 0 and int(picks.max()) < 1000
    assert not torch.equal(picks, in_run_picks(1000, 50, seed=1))
    assert torch.equal(in_run_picks(1000, 20, seed=0), picks[:20])  # a smaller evaluation is a prefix


def test_the_protocol_names_its_sets():
    found = in_run_protocol(n=10_000, seed=3, data="~/store", num_images=50_000, weights="w.pth", average=True)
    assert found["reference"] == "10000 real images drawn (seed 3) from ~/store (50000 images)"
    assert found["samples"].startswith("10000 from the generator average") and found["KID subsets of"] == 1000
