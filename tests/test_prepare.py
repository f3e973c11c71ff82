"""`minisagan prepare` and the store it writes: the images against a plain Pillow crop and resize,
the odd files counted by reason, resumption after an interruption, the errors before any work, and
training from the store."""

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from minisagan.data import prepare as prep
from minisagan.data.jpeg_folder import EMPTY_CLASS, write_jpeg_folder
from minisagan.data.store import ImageStore, prefetch, to_model_input
from minisagan.errors import ConfigError, DataError
from minisagan.run.cli import main
from minisagan.run.stream import epoch_batches, real_batches


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("jpegs") / "train"
    return root, write_jpeg_folder(root, per_class=3)


@pytest.fixture(scope="module")
def store(folder, tmp_path_factory):
    target = tmp_path_factory.mktemp("stores") / "shapes128"
    prep.prepare(folder[0], target, resolution=128, workers=1, progress=False)
    return target


def plain_square(path, resolution):
    """The baseline: decode the whole file, crop the centred square, resize."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    s = min(w, h)
    box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    return np.asarray(image.resize((resolution, resolution), Image.Resampling.BICUBIC, box=box), dtype=np.int64)


def test_the_store_holds_every_readable_image_cropped_and_resized_like_a_plain_decode(folder, store):
    root, planted = folder
    manifest = json.loads((store / "manifest.json").read_text())
    images = np.fromfile(store / "images.u8", dtype=np.uint8).reshape(-1, 128, 128, 3)
    labels = np.load(store / "labels.npy")
    assert manifest["images"] == planted["images"] == len(images) == len(labels)
    assert manifest["classes"] == sorted(p.name for p in root.iterdir())
    assert manifest["counts"] == np.bincount(labels, minlength=len(manifest["classes"])).tolist()
    assert manifest["sha256"] == hashlib.sha256(images.tobytes()).hexdigest()
    # rows follow the sorted files, skipping the two that are not images
    kept = [p for name in manifest["classes"] for p in sorted((root / name).iterdir())
            if p.name not in ("README.txt", "truncated.JPEG")]
    for row, path in [(0, kept[0]), (7, kept[7]), (len(kept) - 1, kept[-1])]:
        assert labels[row] == manifest["classes"].index(path.parent.name)
        difference = np.abs(images[row].astype(np.int64) - plain_square(path, 128))
        assert difference.mean() < 1.5, path  # DCT-domain downscaling moves pixels by about 0.3 levels


def test_odd_files_are_counted_by_reason_in_the_manifest_and_the_summary(folder, tmp_path, capsys):
    root, planted = folder
    manifest = prep.prepare(root, tmp_path / "store", resolution=32, workers=1, progress=False)
    for key in ("skipped", "converted", "empty_classes"):
        assert manifest[key] == planted[key], key
    assert manifest["counts"][manifest["classes"].index(EMPTY_CLASS)] == 0
    skipped, converted = capsys.readouterr().out.strip().splitlines()[-2:]  # the summary's last two lines
    assert skipped.startswith("skipped: ") and converted.startswith("converted: ")
    assert "1 not an image file" in skipped and "1 unreadable or truncated" in skipped and "1 CMYK" in converted


def test_a_16_bit_image_is_scaled_not_clipped(tmp_path):
    (tmp_path / "src" / "a").mkdir(parents=True)
    Image.fromarray(np.full((40, 60), 32768, dtype=np.uint16)).save(tmp_path / "src" / "a" / "half.png")
    prep.prepare(tmp_path / "src", tmp_path / "store", resolution=32, workers=1, progress=False)
    pixels = np.fromfile(tmp_path / "store" / "images.u8", dtype=np.uint8)
    assert np.all(np.abs(pixels.astype(int) - 128) <= 1)  # 32768 / 65535 of white, not 255


def test_an_interrupted_preparation_continues_and_ends_as_an_uninterrupted_one(folder, store, tmp_path, monkeypatch):
    monkeypatch.setattr(prep, "CHUNK", 8)
    real_chunk, calls = prep._prepare_chunk, []

    def interrupted(job):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(job[3])
        return real_chunk(job)

    monkeypatch.setattr(prep, "_prepare_chunk", interrupted)
    target = tmp_path / "store"
    with pytest.raises(KeyboardInterrupt):
        prep.prepare(folder[0], target, resolution=128, workers=1, progress=False)
    assert not target.exists() and (tmp_path / "store.partial").is_dir()
    done = list(calls)
    calls.clear()
    monkeypatch.setattr(prep, "_prepare_chunk", lambda job: (calls.append(job[3]), real_chunk(job))[1])
    manifest = prep.prepare(folder[0], target, resolution=128, workers=1, progress=False)
    assert done == [0, 8] and calls[0] == 16 and not set(done) & set(calls)  # nothing done twice
    assert manifest["sha256"] == json.loads((store / "manifest.json").read_text())["sha256"]
    assert manifest["converted"] == json.loads((store / "manifest.json").read_text())["converted"]
    assert not (tmp_path / "store.partial").exists()


def test_several_workers_write_the_same_store(folder, store, tmp_path):
    manifest = prep.prepare(folder[0], tmp_path / "store", resolution=128, workers=2, progress=False)
    assert manifest["sha256"] == json.loads((store / "manifest.json").read_text())["sha256"]


def test_errors_before_any_work(folder, store, tmp_path, monkeypatch):
    with pytest.raises(DataError, match="exists; choose another target"):
        prep.prepare(folder[0], store, progress=False)
    (tmp_path / "none" / "a").mkdir(parents=True)
    (tmp_path / "none" / "a" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no image files in its class folders"):
        prep.prepare(tmp_path / "none", tmp_path / "out", progress=False)
    with pytest.raises(DataError, match="does not exist"):
        prep.prepare(tmp_path / "missing", tmp_path / "out", progress=False)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DataError, match=r"has 0\.0 MiB free; the store of 36 files at 128x128 needs 1\.7 MiB: choose"):
        prep.prepare(folder[0], tmp_path / "small", progress=False)
    assert not (tmp_path / "small.partial").exists()
    monkeypatch.undo()
    monkeypatch.setattr(prep.os, "access", lambda path, mode: False)
    with pytest.raises(DataError, match="cannot write to"):
        prep.prepare(folder[0], tmp_path / "locked" / "store", progress=False)


def test_a_leftover_of_another_preparation_is_not_mixed_in(folder, tmp_path):
    (tmp_path / "store.partial").mkdir()
    (tmp_path / "store.partial" / "plan.json").write_text(json.dumps({"resolution": 64}))
    with pytest.raises(DataError, match="unfinished preparation of other files"):
        prep.prepare(folder[0], tmp_path / "store", resolution=128, progress=False)


def test_store_gathers_in_the_order_asked_and_matches_its_items(store):
    data = ImageStore(store)
    images, labels = data.gather([9, 2, 30, 2])
    assert images.shape == (4, 128, 128, 3) and images.dtype == torch.uint8
    for row, index in enumerate([9, 2, 30, 2]):
        item, label = data[index]
        assert label == labels[row]
        assert torch.equal(to_model_input(images[row:row + 1], torch.device("cpu"))[0], item)
    assert item.min() >= -1 and item.max() <= 1 and item.shape == (3, 128, 128)


def test_a_damaged_store_is_a_clear_error(store, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    with open(copy / "images.u8", "r+b") as handle:
        handle.truncate(1000)
    with pytest.raises(DataError, match="incomplete or damaged, prepare it again"):
        ImageStore(copy)
    with pytest.raises(DataError, match="is not a prepared store"):
        ImageStore(tmp_path)


def test_store_batches_follow_the_runs_order_and_resume_exactly(store):
    data = ImageStore(store)
    stream = real_batches(data, 8, seed=3, epoch=0, position=0)
    first = [next(stream) for _ in range(7)]  # 34 images: 4 batches an epoch, then epoch 1
    assert [(e, p) for e, p, _, _ in first] == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 1), (1, 2), (1, 3)]
    expected = epoch_batches(len(data), 8, 3, 0)[2]
    assert torch.equal(first[2][2], data.gather(expected)[0])
    resumed = next(real_batches(data, 8, seed=3, epoch=1, position=2))
    assert torch.equal(resumed[2], first[6][2]) and torch.equal(resumed[3], first[6][3])
    half = next(real_batches(data, 8, seed=3, epoch=0, position=2, part=slice(4, 8)))
    assert torch.equal(half[2], first[2][2][4:])


def test_prefetch_raises_the_producers_error_in_the_consumer():
    def broken():
        yield (torch.zeros(1),)
        raise DataError("disk gone")

    stream = prefetch(broken())
    assert torch.equal(next(stream)[0], torch.zeros(1))
    with pytest.raises(DataError, match="disk gone"):
        next(stream)
    assert [x for (x,) in prefetch(iter([(1,), (2,)]))] == [1, 2]


def test_train_reads_a_store_and_refuses_another_resolution(store, tmp_path, capsys):
    flags = ["--profile", "smoke", "--width", "4", "--z-dim", "8", "--batch-size", "4", "--steps", "2",
             "--eval-every", "0", "--attention", "32", "--device", "cpu", "--quiet"]
    assert main(["train", *flags, "--data", str(store), "--resolution", "128", "--run-dir", str(tmp_path / "r")]) == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["data"] == str(store)
    assert main(["train", *flags, "--data", str(store), "--resolution", "64", "--attention", "0",
                 "--run-dir", str(tmp_path / "s")]) == 2
    assert "holds 128x128 images (got 64)" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        from minisagan.run.stream import make_dataset
        make_dataset(str(store), 32, 0, 0)


def test_prepare_on_the_command_line(folder, tmp_path, capsys):
    assert main(["prepare", str(folder[0]), str(tmp_path / "s"), "--resolution", "32", "--workers", "1",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "prepared 34 images of 11 classes at 32x32" in out and (tmp_path / "s" / "manifest.json").is_file()
    assert main(["prepare", str(folder[0]), str(tmp_path / "s"), "--quiet"]) == 2
    assert "exists; choose another target" in capsys.readouterr().err
    assert main(["prepare", str(folder[0]), str(tmp_path / "t"), "--workers", "0"]) == 2
