"""The mirror-shapes dataset is deterministic and symmetric, and its checker tells twins from strangers."""

import dataclasses

import pytest
import torch
from torch.utils.data import DataLoader

from minisagan.data import (
    RESOLUTIONS,
    SHAPE_NAMES,
    ShapesDataset,
    consistency,
    render,
    sample_shapes,
    shape_params,
)

N = 300  # images per checker test: enough that a 1-in-100 failure would show


def splice(left_from: torch.Tensor, right_from: torch.Tensor) -> torch.Tensor:
    """Left halves of one batch [B, 3, S, S] next to the right halves of another."""
    S = left_from.shape[-1]
    return torch.cat([left_from[..., : S // 2], right_from[..., S // 2:]], dim=-1)


# --- The dataset ------------------------------------------------------------------------------

@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_items_are_images_in_gan_range_with_int_labels(resolution):
    image, label = ShapesDataset(resolution, length=20)[13]
    assert image.shape == (3, resolution, resolution)
    assert image.dtype == torch.float32
    assert -1 <= image.min() and image.max() <= 1
    assert label == 3 and isinstance(label, int)


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_images_are_exactly_mirror_symmetric(resolution):
    images, _ = sample_shapes(50, resolution)
    assert torch.equal(images, images.flip(-1))


def test_same_seed_gives_identical_images_and_another_seed_different_ones():
    first = torch.stack([ShapesDataset(seed=7)[i][0] for i in range(10)])
    again = torch.stack([ShapesDataset(seed=7)[i][0] for i in range(10)])
    other = torch.stack([ShapesDataset(seed=8)[i][0] for i in range(10)])
    assert torch.equal(first, again)
    assert all(not torch.equal(a, b) for a, b in zip(first, other))


def test_batched_items_equal_single_items_in_any_order():
    dataset = ShapesDataset(64, length=1000, seed=3)
    indices = [917, 5, 42, 5, 300]
    batch = dataset.__getitems__(indices)
    for index, (image, label) in zip(indices, batch):
        single_image, single_label = dataset[index]
        assert torch.equal(image, single_image) and label == single_label


def test_dataloader_uses_the_batched_path_and_gives_the_same_images():
    dataset = ShapesDataset(length=20)
    images, labels = next(iter(DataLoader(dataset, batch_size=8)))
    assert images.shape == (8, 3, 32, 32) and labels.dtype == torch.int64
    assert torch.equal(images, torch.stack([dataset[i][0] for i in range(8)]))
    assert labels.tolist() == list(range(8))


def test_classes_are_balanced():
    labels = shape_params(range(1000)).label
    assert torch.bincount(labels, minlength=10).tolist() == [100] * 10
    dataset = ShapesDataset()
    assert dataset.num_classes == len(dataset.classes) == len(SHAPE_NAMES) == 10


def test_sample_shapes_forces_the_requested_classes():
    wanted = torch.full((12,), SHAPE_NAMES.index("ring"))
    images, labels = sample_shapes(12, labels=wanted)
    assert torch.equal(labels, wanted)
    default_images, _ = sample_shapes(12)
    assert not torch.equal(images, default_images)


def test_same_scene_at_every_resolution():
    # Item i is one scene drawn at three sizes: averaging 128 down to 32 nearly gives the 32 image
    # (only the anti-aliased edges differ).
    small, _ = sample_shapes(20, 32)
    large, _ = sample_shapes(20, 128)
    pooled = torch.nn.functional.avg_pool2d(large, 4)
    assert (pooled - small).abs().mean() < 0.01


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_objects_stay_clear_of_border_and_centre_line(resolution):
    # The checker reads the background from the border columns, and the twins must be far apart:
    # the two outermost and the two central columns are background only, identical in each row.
    images, _ = sample_shapes(200, resolution)
    S = resolution
    border = images[..., :1].expand(-1, -1, -1, 2)
    assert torch.equal(images[..., :2], border)
    assert torch.equal(images[..., S // 2 - 1: S // 2 + 1], border)


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_brightest_pixel_of_each_half_has_the_sampled_colour(resolution):
    # Independent of the checker: each object covers some pixel fully, and that pixel is the
    # brightest of its half because objects are brighter than any background.
    params = shape_params(range(200), seed=5)
    images = (render(params, resolution) + 1) / 2  # [B, 3, S, S] in [0, 1]
    S = resolution
    for half in (images[..., : S // 2], images[..., S // 2:]):
        pixels = half.flatten(2)  # [B, 3, S * S/2]
        brightest = pixels.amax(1).argmax(1)  # [B]
        colour = pixels[torch.arange(len(pixels)), :, brightest]  # [B, 3]
        torch.testing.assert_close(colour, params.colour, atol=1e-6, rtol=0)


# --- The checker ------------------------------------------------------------------------------

@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_real_data_is_fully_consistent(resolution):
    images, _ = sample_shapes(N, resolution, seed=11)
    report = consistency(images)
    assert report.score == 1.0
    assert report.colour_gap.max() < 1e-5
    assert report.offset_px.max() < 1e-3
    assert report.mirror_error.max() == 0


@pytest.mark.parametrize("resolution, colour_tol, centre_tol", [(32, 0.3, 0.5), (64, 0.17, 0.25),
                                                                (128, 0.1, 0.15)])
def test_checker_finds_the_sampled_colour_and_centre(resolution, colour_tol, centre_tol):
    # Anti-aliased edge pixels lean towards the background and the thresholded mask is a pixel
    # too wide on one side, so the estimates approach the truth as the resolution grows.
    params = shape_params(range(300), seed=2)
    report = consistency(render(params, resolution))
    assert (report.left_colour - params.colour).abs().max() < colour_tol
    centred = ~torch.isin(params.label, torch.tensor([SHAPE_NAMES.index("triangle"),
                                                      SHAPE_NAMES.index("half_disc")]))
    assert (report.left_centre - params.centre)[centred].abs().max() < centre_tol


def test_shuffled_right_halves_are_inconsistent():
    images, _ = sample_shapes(N, seed=1)
    shuffled = splice(images, images.roll(1, dims=0))
    report = consistency(shuffled)
    assert report.has_pair.all()
    assert report.score < 0.1


def test_recoloured_twin_is_inconsistent():
    params = shape_params(range(N))
    complementary = params.colour.max(1, keepdim=True).values + params.colour.min(1, keepdim=True).values
    recoloured = dataclasses.replace(params, colour=complementary - params.colour)
    report = consistency(splice(render(params), render(recoloured)))
    assert report.has_pair.all()
    assert report.colour_gap.min() > 0.3
    assert report.score == 0


@pytest.mark.parametrize("shift, consistent", [(3.0, False), (1.0, True)])
def test_vertical_shift_of_the_twin_beyond_tolerance_is_inconsistent(shift, consistent):
    params = shape_params(range(N))
    towards_middle = torch.where(params.centre[:, 1] < 16, shift, -shift)
    moved = params.centre + torch.stack([torch.zeros(N), towards_middle], dim=1)
    shifted = dataclasses.replace(params, centre=moved)
    report = consistency(splice(render(params, 64), render(shifted, 64)))
    # The rows' background changes with the gradient, so edge pixels pass the threshold a little
    # differently after the move.
    torch.testing.assert_close(report.offset_px, torch.full((N,), shift), atol=0.1, rtol=0)
    assert report.consistent.all() if consistent else not report.consistent.any()


def test_background_only_images_have_no_pair():
    images, _ = sample_shapes(20)
    blank = images[..., :1].expand_as(images)  # every row its background colour
    report = consistency(blank)
    assert not report.has_pair.any() and report.score == 0
    assert report.colour_gap.isnan().all()


def test_noise_has_no_pair():
    noise = torch.rand(50, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert consistency(noise).score == 0


def test_uint8_input_gives_the_same_verdict_as_float():
    images, _ = sample_shapes(100)
    as_bytes = ((images + 1) * 127.5).round().to(torch.uint8)
    from_bytes = consistency(as_bytes)
    from_floats = consistency(as_bytes.float() / 127.5 - 1)
    assert torch.equal(from_bytes.consistent, from_floats.consistent)
    torch.testing.assert_close(from_bytes.colour_gap, from_floats.colour_gap)
    assert torch.equal(from_bytes.consistent, consistency(images).consistent)


# --- Errors -----------------------------------------------------------------------------------

def test_unsupported_resolution_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"resolution must be one of \(32, 64, 128\), got 48"):
        ShapesDataset(resolution=48)
    with pytest.raises(ValueError, match="got 16"):
        sample_shapes(4, resolution=16)


def test_negative_length_and_out_of_range_index_are_errors():
    with pytest.raises(ValueError, match="length must be"):
        ShapesDataset(length=-1)
    with pytest.raises(IndexError, match="index 10 out of range .* length 10"):
        ShapesDataset(length=10)[10]
    with pytest.raises(IndexError, match="index -11"):
        ShapesDataset(length=10).__getitems__([0, -11])


def test_forced_labels_must_be_class_ids():
    with pytest.raises(ValueError, match=r"class ids in \[0, 10\)"):
        sample_shapes(2, labels=torch.tensor([0, 10]))


@pytest.mark.parametrize("images, message", [
    (torch.zeros(3, 32, 32), r"shape \[batch, 3, height, width\], got \[3, 32, 32\]"),
    (torch.zeros(2, 1, 32, 32), r"got \[2, 1, 32, 32\]"),
    (torch.zeros(2, 3, 32, 30), "square images"),
    (torch.zeros(0, 3, 32, 32), "non-empty"),
    (torch.zeros(2, 3, 32, 32, dtype=torch.int32), "uint8 in \\[0, 255\\], got dtype torch.int32"),
    (torch.full((2, 3, 32, 32), 255.0), r"must be in \[-1, 1\], got values in \[255, 255\]"),
    (torch.full((2, 3, 32, 32), float("nan")), "NaN"),
])
def test_checker_rejects_malformed_images(images, message):
    with pytest.raises(ValueError, match=message):
        consistency(images)
