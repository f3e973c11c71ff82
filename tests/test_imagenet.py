"""Chapter 7's reference statistics: float64 streaming sums against numpy's mean and covariance of
all features at once, a store's pass cached under its checksum and resumed after a stop, and the
streamed FID of a generator against torch-fidelity's own computation on the same images."""

import numpy as np
import pytest
import torch

from minisagan.data.jpeg_folder import write_jpeg_folder
from minisagan.data.prepare import prepare
from minisagan.data.store import ImageStore
from minisagan.imagenet import (FeatureMoments, feature_extractor, frechet_distance, generator_statistics,
                                store_statistics)
from minisagan.metrics import fidelity_metrics, sample_images
from minisagan.run.cli import main
from minisagan.run.config import TrainConfig
from minisagan.run.loop import train
from minisagan.sagan import Generator, SAGANConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("sizes", [(7, 1, 30, 2), (40,)])
def test_streamed_moments_are_numpys_mean_and_covariance(sizes):
    x = torch.randn(sum(sizes), 5, dtype=torch.float64) * 3 + 1000  # a large mean: the float64 sums must hold it
    moments = FeatureMoments(5)
    for part in torch.split(x, list(sizes)):
        moments.add(part)
    stats = moments.statistics()
    assert stats["n"] == len(x)
    np.testing.assert_allclose(stats["mu"], x.numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats["sigma"], np.cov(x.numpy(), rowvar=False), rtol=1e-7, atol=1e-9)


def test_one_vector_has_no_covariance():
    moments = FeatureMoments(3)
    moments.add(torch.ones(1, 3))
    with pytest.raises(ValueError, match="at least 2 feature vectors, got 1"):
        moments.statistics()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    write_jpeg_folder(root / "jpegs", per_class=14)
    prepare(root / "jpegs", root / "store", resolution=32, workers=1, progress=False)
    return ImageStore(root / "store")


def all_features(store, extractor):
    images = store.gather(np.arange(len(store)))[0].permute(0, 3, 1, 2)
    return torch.cat([extractor(images[i:i + 32])[0] for i in range(0, len(images), 32)]).double().numpy()


def test_a_stores_statistics_equal_a_direct_computation_and_are_cached(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MINISAGAN_CACHE", str(tmp_path))
    extractor, dim = feature_extractor("shapes")
    streamed = store_statistics(store, "shapes", batch_size=24, progress=False)
    every = all_features(store, extractor)
    assert streamed["n"] == len(store) == len(every) and dim == every.shape[1] == 128
    np.testing.assert_allclose(streamed["mu"], every.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(streamed["sigma"], np.cov(every, rowvar=False), rtol=1e-4, atol=1e-6)
    checksum = store.manifest["sha256"][:16]
    assert [p.name for p in (tmp_path / "statistics").iterdir()] == [f"{checksum}-shapes.npz"]

    def never(images):
        raise AssertionError("the cache was not read")

    again = store_statistics(store, "shapes", progress=False, extractor=(never, dim))
    np.testing.assert_array_equal(again["sigma"], streamed["sigma"])


def test_an_interrupted_pass_resumes_to_the_same_statistics(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MINISAGAN_CACHE", str(tmp_path))
    extractor, dim = feature_extractor("shapes")
    one_pass = store_statistics(store, "shapes", batch_size=16, progress=False)
    for path in (tmp_path / "statistics").iterdir():
        path.unlink()
    seen = []

    def preempted(images):
        seen.append(len(images))
        if len(seen) == 4:
            raise KeyboardInterrupt
        return extractor(images)

    with pytest.raises(KeyboardInterrupt):
        store_statistics(store, "shapes", batch_size=16, save_every=0, progress=False, extractor=(preempted, dim))
    assert [p.name.endswith(".partial.npz") for p in (tmp_path / "statistics").iterdir()] == [True]
    resumed_batches = []

    def counting(images):
        resumed_batches.append(len(images))
        return extractor(images)

    resumed = store_statistics(store, "shapes", batch_size=16, progress=False, extractor=(counting, dim))
    assert sum(resumed_batches) == len(store) - 3 * 16  # it went on after the three batches it had saved
    assert resumed["n"] == one_pass["n"]
    np.testing.assert_allclose(resumed["sigma"], one_pass["sigma"], rtol=1e-10, atol=1e-12)
    assert not list((tmp_path / "statistics").glob("*.partial.npz"))


def test_a_store_rebuilt_at_the_same_path_is_not_read_from_the_cache(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MINISAGAN_CACHE", str(tmp_path))
    store_statistics(store, "shapes", progress=False)
    rebuilt = ImageStore(store.path)
    rebuilt.manifest = {**store.manifest, "sha256": "f" * 64}  # as if prepared again with other images
    _, dim = feature_extractor("shapes")
    with pytest.raises(RuntimeError, match="recomputed"):
        store_statistics(rebuilt, "shapes", progress=False,
                         extractor=(lambda images: (_ for _ in ()).throw(RuntimeError("recomputed")), dim))


def test_a_generators_streamed_fid_is_torch_fidelitys(store, tmp_path, monkeypatch):
    """Our sums and Frechet distance against torch-fidelity computing FID from the same images."""
    monkeypatch.setenv("MINISAGAN_CACHE", str(tmp_path))
    torch.manual_seed(0)
    G = Generator(SAGANConfig(resolution=32, width=8, z_dim=16, num_classes=len(store.classes), attention=16))
    extractor, dim = feature_extractor("shapes")
    n = 150
    ours = frechet_distance(
        generator_statistics(G, n, z_dim=16, num_classes=len(store.classes), seed=5, extractor=extractor, dim=dim,
                             batch_size=40, progress=False),
        store_statistics(store, "shapes", progress=False))
    fake = sample_images(G, n, z_dim=16, num_classes=len(store.classes), seed=5, progress=False)
    real = store.gather(np.arange(len(store)))[0].permute(0, 3, 1, 2)
    theirs = fidelity_metrics(fake, real, features="shapes", isc=False, kid=False)["FID"]
    assert ours == pytest.approx(theirs, rel=1e-3)


def test_reference_train_needs_a_store_and_the_inception_weights(store, tmp_path, capsys):
    shapes_run = train(TrainConfig.for_profile("smoke", width=8, z_dim=16, batch_size=4, data_size=12, steps=1,
                                               eval_every=0, device="cpu", run_dir=str(tmp_path / "a")),
                       progress=False)
    assert main(["evaluate", str(shapes_run), "--reference", "train", "--n", "2048"]) == 2
    assert "--reference train: the run's data 'shapes' is not a prepared store" in capsys.readouterr().err
    store_run = train(TrainConfig.for_profile("smoke", data=str(store.path), width=8, z_dim=16, batch_size=4,
                                              steps=1, eval_every=0, device="cpu", run_dir=str(tmp_path / "b")),
                      progress=False)
    assert main(["evaluate", str(store_run), "--reference", "train", "--n", "2048"]) == 2
    err = capsys.readouterr().err
    assert "--reference train: pass --inception-weights PATH" in err and len(err.strip().splitlines()) == 1
