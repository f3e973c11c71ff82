"""The mirror-shapes classifier and the torch-fidelity feature extractor built on it."""

import pytest
import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from minisagan.data import ShapesDataset, sample_shapes
from minisagan.errors import CheckpointError, MissingWeightsError
from minisagan.data.shapes_classifier import (
    DEFAULT_WEIGHTS,
    EXTRACTOR_NAME,
    ShapesFeatureExtractor,
    accuracy,
    load_classifier,
    register_shapes_extractor,
    main,
    train_classifier,
)

# Measured with the shipped weights (seed 0, 1000 steps) on 200 vs 200 images: real vs real FID 1.30,
# KID -0.22 +- 0.09 (subsets of 100); real vs blank grey FID 327, KID 30.1; IS of the real images 9.66
# with 2 splits (7.98 with torch-fidelity's default 10 splits of 20 images, too few to hold all ten
# classes evenly). With 1000 vs 1000: FID 0.32, IS 9.48 (10 splits). The bounds leave room for retrained weights.
REAL_FID_BOUND = 5.0
REAL_KID_BOUND = 1.0
GREY_FID_FLOOR = 100.0
GREY_KID_FLOOR = 10.0


class Uint8Images(Dataset):
    """[N, 3, S, S] float images in [-1, 1] as torch-fidelity's input: items uint8 [3, S, S]."""

    def __init__(self, images: torch.Tensor):
        self.images = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def real_images(n: int, seed: int, resolution: int = 32) -> Uint8Images:
    return Uint8Images(sample_shapes(n, resolution, seed=seed)[0])


def fidelity(input1: Dataset, input2: Dataset) -> dict:
    register_shapes_extractor()
    return torch_fidelity.calculate_metrics(
        input1=input1, input2=input2, cuda=False, isc=True, fid=True, kid=True, isc_splits=2,
        feature_extractor=EXTRACTOR_NAME, feature_extractor_weights_path=str(DEFAULT_WEIGHTS),
        kid_subset_size=100, save_cpu_ram=True, verbose=False,
    )


@pytest.fixture(scope="module")
def classifier(one_thread):
    return load_classifier()


@pytest.fixture(scope="module")
def extractor(one_thread):
    return ShapesFeatureExtractor(EXTRACTOR_NAME, ["128", "logits_unbiased"]).eval()


def test_shipped_weights_classify_fresh_images(classifier):
    assert not classifier.training
    assert accuracy(classifier, ShapesDataset(32, length=500, seed=12345)) >= 0.97


@pytest.mark.parametrize("resolution", [32, 64])
def test_extractor_gives_the_shapes_torch_fidelity_expects(extractor, resolution):
    images = real_images(8, seed=3, resolution=resolution).images  # [8, 3, S, S] uint8
    with torch.no_grad():
        features, logits = extractor(images)
    assert features.shape == (8, 128) and features.dtype == torch.float32
    assert logits.shape == (8, 10) and logits.dtype == torch.float32
    assert torch.equal(logits.argmax(1), torch.arange(8))  # item i of seed 3 has label i % 10


def test_extractor_returns_features_in_the_requested_order(extractor):
    images = real_images(4, seed=3).images
    reversed_order = ShapesFeatureExtractor(EXTRACTOR_NAME, ["logits_unbiased", "128"]).eval()
    with torch.no_grad():
        logits, features = reversed_order(images)
        assert torch.equal(features, extractor(images)[0])
        assert torch.equal(logits, extractor(images)[1])
    assert reversed_order.get_default_feature_layer_for_metric("isc") == "logits_unbiased"
    assert reversed_order.get_default_feature_layer_for_metric("fid") == "128"


def test_extractor_rejects_float_images(extractor):
    images, _ = sample_shapes(2)  # float in [-1, 1]
    with pytest.raises(ValueError, match="uint8"):
        extractor(images)


def test_missing_weights_name_the_file_and_the_command(tmp_path):
    path = tmp_path / "nowhere.pt"
    with pytest.raises(MissingWeightsError) as info:
        load_classifier(path)
    assert str(path) in str(info.value)
    assert "python -m minisagan.data.shapes_classifier" in str(info.value)


def test_corrupt_weights_raise_checkpoint_error(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(DEFAULT_WEIGHTS.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_classifier(path)


def test_training_is_deterministic_from_the_seed(tmp_path, one_thread):
    runs = [train_classifier(seed=5, steps=3, batch_size=8, out=tmp_path / f"run{i}.pt", progress=False)
            for i in range(2)]
    first, second = (torch.load(run["path"], weights_only=False) for run in runs)
    assert first["seed"] == 5 and first["steps"] == 3 and first["feature_dim"] == 128
    assert first["state_dict"].keys() == second["state_dict"].keys()
    for name, tensor in first["state_dict"].items():
        assert torch.equal(tensor, second["state_dict"][name]), name
    assert runs[0]["test_accuracy"] == runs[1]["test_accuracy"]
    assert isinstance(load_classifier(runs[0]["path"]), torch.nn.Module)


def test_command_documents_its_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    usage = capsys.readouterr().out
    assert all(option in usage for option in ("--seed", "--steps", "--out"))


def test_register_is_idempotent():
    register_shapes_extractor()
    register_shapes_extractor()
    assert FEATURE_EXTRACTORS_REGISTRY[EXTRACTOR_NAME] is ShapesFeatureExtractor


@pytest.fixture(scope="module")
def real_vs_real(one_thread):
    return fidelity(real_images(200, seed=1), real_images(200, seed=2))


def test_torch_fidelity_finds_real_data_close_to_real_data(real_vs_real):
    assert 0 <= real_vs_real["frechet_inception_distance"] < REAL_FID_BOUND
    assert abs(real_vs_real["kernel_inception_distance_mean"]) < REAL_KID_BOUND
    assert real_vs_real["inception_score_mean"] > 8  # 10 balanced classes, each read with confidence


def test_torch_fidelity_finds_blank_images_far_from_real_data(real_vs_real, one_thread):
    grey = Uint8Images(torch.zeros(200, 3, 32, 32))  # 0 in [-1, 1] is mid-grey
    scores = fidelity(real_images(200, seed=1), grey)
    assert scores["frechet_inception_distance"] > GREY_FID_FLOOR
    assert scores["frechet_inception_distance"] > 20 * real_vs_real["frechet_inception_distance"]
    assert scores["kernel_inception_distance_mean"] > GREY_KID_FLOOR
