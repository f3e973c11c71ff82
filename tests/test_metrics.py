"""Chapter 5's metrics: torch-fidelity's numbers against independent computations, and clear errors."""

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from minisagan.data import render, sample_shapes, shape_params
from minisagan.data.shapes import hsv_to_rgb
from minisagan.errors import CheckpointError, MissingWeightsError
from minisagan.metrics import (
    INCEPTION_ENV,
    INCEPTION_FILE,
    ImageTensorDataset,
    class_accuracy,
    fidelity_metrics,
    hue_histogram,
    hues_present,
    inception_weights,
    sample_images,
    to_uint8,
)

N = 300  # images per set: above the shapes features' 128 dimensions, small enough for seconds


@pytest.fixture(scope="module")
def sets():
    real, labels = sample_shapes(N, resolution=32, seed=0)
    other, _ = sample_shapes(N, resolution=32, seed=1)
    return real, labels, other


@pytest.fixture(scope="module")
def features():
    from minisagan.data.shapes_classifier import register_shapes_extractor
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    register_shapes_extractor()
    extractor = FEATURE_EXTRACTORS_REGISTRY["minisagan-shapes"]("minisagan-shapes", ["128"])

    def extract(images):
        with torch.no_grad():
            return extractor(to_uint8(images))[0].double().numpy()

    return extract


def frechet(a, b):
    covmean = scipy.linalg.sqrtm(np.cov(a, rowvar=False) @ np.cov(b, rowvar=False)).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(np.cov(a, rowvar=False) + np.cov(b, rowvar=False) - 2 * covmean))


def mmd2_unbiased(a, b):
    m, d = a.shape
    k = lambda x, y: (x @ y.T / d + 1) ** 3
    kaa, kbb = k(a, a), k(b, b)
    return float((kaa.sum() - np.trace(kaa) + kbb.sum() - np.trace(kbb)) / (m * (m - 1)) - 2 * k(a, b).mean())


def test_identical_sets_score_zero(sets):
    # FID of a set with itself is exactly 0; the unbiased KID estimate is 0 up to a term of order
    # 1/N (diagonal against off-diagonal kernel values), small against any real shift.
    real, _, _ = sets
    same, shifted = fidelity_metrics(real, real, isc=False), fidelity_metrics(real * 0.5, real, isc=False)
    assert abs(same["FID"]) < 1e-3
    assert abs(same["KID"]) < 0.02 * shifted["KID"]


def test_a_larger_shift_gives_a_larger_fid(sets):
    real, _, other = sets
    slightly, strongly = fidelity_metrics((real * 0.9), other, isc=False, kid=False), fidelity_metrics((real * 0.5), other, isc=False, kid=False)
    assert strongly["FID"] > slightly["FID"] > fidelity_metrics(real, other, isc=False, kid=False)["FID"]


def test_fid_matches_scipy_on_the_same_features(sets, features):
    real, _, other = sets
    dimmer = real * 0.8
    library = fidelity_metrics(dimmer, other, isc=False, kid=False)["FID"]
    assert library == pytest.approx(frechet(features(dimmer), features(other)), rel=1e-3)


def test_kid_matches_the_unbiased_mmd_when_the_subset_is_the_whole_set(sets, features):
    real, _, other = sets
    dimmer = real * 0.8
    library = fidelity_metrics(dimmer, other, isc=False, fid=False)  # subset size = N: every subset is the set
    assert library["KID"] == pytest.approx(mmd2_unbiased(features(dimmer), features(other)), rel=1e-4, abs=1e-7)
    assert library["KID_std"] < 1e-5  # float32 rounding only: every subset holds the same images


def test_is_of_a_balanced_perfectly_classified_set_approaches_the_class_count(sets):
    real, _, _ = sets
    # 2 splits of 150: each split still holds every class about 15 times
    assert 9.0 < fidelity_metrics(real, real, fid=False, kid=False, isc_splits=2)["IS"] <= 10.0


def test_is_of_a_single_class_is_near_one(sets):
    real, labels, _ = sets
    one_class = real[labels == 3].repeat(10, 1, 1, 1)
    assert fidelity_metrics(one_class, one_class, fid=False, kid=False)["IS"] < 1.3


def test_to_uint8_maps_the_tanh_range_onto_bytes():
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1)
    assert to_uint8(x).flatten().tolist() == [0, 128, 255]
    assert to_uint8(torch.full((1, 3, 2, 2), 7, dtype=torch.uint8)).dtype == torch.uint8


@pytest.mark.parametrize("images, message", [
    (torch.rand(2, 3, 8, 8) * 255, r"must lie in \[-1, 1\]"),
    (torch.zeros(2, 3, 8, 8, dtype=torch.int32), "float in \\[-1, 1\\] or uint8"),
    (torch.zeros(2, 1, 8, 8), r"\[batch, 3, height, width\]"),
    (torch.zeros(3, 8, 8), r"\[batch, 3, height, width\]"),
])
def test_bad_images_are_rejected_with_a_clear_message(images, message):
    with pytest.raises(ValueError, match=message):
        to_uint8(images)


def test_too_few_samples_for_fid_is_an_error(sets):
    real, _, _ = sets
    with pytest.raises(ValueError, match="needs at least 128 images per set"):
        fidelity_metrics(real[:100], real[:100])


def test_unknown_feature_set_is_an_error(sets):
    real, _, _ = sets
    with pytest.raises(ValueError, match="features must be one of"):
        fidelity_metrics(real, real, features="vgg")


def test_missing_inception_weights_name_the_file_and_never_download(tmp_path, monkeypatch, sets):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    real, _, _ = sets
    with pytest.raises(MissingWeightsError) as err:
        fidelity_metrics(real, real, features="inception", isc=False, kid=False)
    message = str(err.value)
    assert INCEPTION_FILE in message and "6726825d" in message and "https://" in message and INCEPTION_ENV in message


def test_a_wrong_inception_file_is_rejected(tmp_path, monkeypatch):
    fake = tmp_path / INCEPTION_FILE
    fake.write_bytes(b"not the weights")
    monkeypatch.setenv(INCEPTION_ENV, str(fake))
    with pytest.raises(CheckpointError, match="is not the FID Inception weights file"):
        inception_weights()


class TinyConditionalG(nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, z, y):
        self.seen.append(y.clone())
        return torch.tanh(z[:, :1, None, None].expand(-1, 3, 4, 4) + y[:, None, None, None].float())


def test_sampling_a_conditional_generator_balances_classes_without_np_int():
    assert not hasattr(np, "int")  # torch-fidelity's own conditional path needs it; ours does not
    G = TinyConditionalG()
    images = sample_images(G, 25, z_dim=2, num_classes=5, batch_size=10, progress=False)
    assert images.shape == (25, 3, 4, 4) and images.dtype == torch.uint8
    assert torch.cat(G.seen).bincount().tolist() == [5, 5, 5, 5, 5]
    assert torch.equal(images, sample_images(TinyConditionalG(), 25, z_dim=2, num_classes=5, batch_size=7, progress=False))


def test_image_dataset_serves_uint8_items(sets):
    real, _, _ = sets
    dataset = ImageTensorDataset(real[:4])
    assert len(dataset) == 4 and dataset[0].dtype == torch.uint8 and dataset[0].shape == (3, 32, 32)


# --- class accuracy and hues ---------------------------------------------------------------------

def test_class_accuracy_is_one_on_real_images_and_chance_with_shuffled_labels(sets):
    real, labels, _ = sets
    overall, per_class = class_accuracy(real, labels)
    assert overall == 1.0 and per_class.tolist() == [1.0] * 10
    shuffled = labels[torch.randperm(N, generator=torch.Generator().manual_seed(0))]
    assert class_accuracy(real, shuffled)[0] == pytest.approx(0.1, abs=0.05)
    assert class_accuracy(real, (labels + 1) % 10)[0] == 0.0


def test_class_accuracy_per_class_counts_each_class_on_its_own(sets):
    real, labels, _ = sets
    wrong_circles = torch.where(labels == 0, torch.ones_like(labels), labels)  # circles asked to be squares
    overall, per_class = class_accuracy(real, wrong_circles)
    assert per_class[1] == pytest.approx((labels == 1).sum() / ((labels == 0) | (labels == 1)).sum())
    assert overall == pytest.approx(1 - (labels == 0).float().mean().item())
    assert torch.isnan(class_accuracy(real[labels == 3], labels[labels == 3])[1][0])  # no circle asked for


def test_class_accuracy_reads_uint8_and_float_alike(sets):
    real, labels, _ = sets
    assert class_accuracy(to_uint8(real), labels)[0] == class_accuracy(real, labels)[0]


def test_hue_histogram_of_real_data_covers_every_sector_and_one_colour_one(sets):
    real, _, _ = sets
    histogram = hue_histogram(real)
    assert histogram.sum() == pytest.approx(1.0) and hues_present(real) == 10
    assert histogram.min() > 0.05  # hues are uniform in the data: about 0.1 each
    params = shape_params(range(N), seed=0)
    for hue in (0.03, 0.55):  # one colour for every object: one sector, the right one
        params.colour = hsv_to_rgb(torch.full((N,), hue), torch.full((N,), 0.9), torch.full((N,), 0.9))
        one = hue_histogram(render(params, 32))
        assert hues_present(render(params, 32)) == 1 and one.argmax() == int(hue * 10)


def test_the_standard_error_of_a_fraction_by_hand_and_by_simulation():
    import math

    import numpy as np

    from minisagan.metrics import gap_in_noise, proportion_se

    assert abs(proportion_se(0.95, 1000) - math.sqrt(0.95 * 0.05 / 1000)) < 1e-15  # 0.0069
    assert abs(proportion_se(0.5, 1000) - 0.01581) < 1e-5 and proportion_se(1.0, 10) == 0
    fractions = np.random.default_rng(0).binomial(1000, 0.69, size=20_000) / 1000  # 20,000 evaluations
    assert abs(fractions.std() / proportion_se(0.69, 1000) - 1) < 0.02
    # 0.946 against 0.941 at 1,000 samples each: SE of the gap 0.0103, the gap 0.005 is inside it
    assert gap_in_noise(0.946, 0.941, 1000, 1000) and not gap_in_noise(0.95, 0.90, 1000, 1000)
