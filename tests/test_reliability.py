"""A user's mistakes and the machine's faults: images of every mode read right, one writer per run
folder, resumes that check what they cannot assume, a divergence guard that looks after the update,
checked inputs for sample and evaluate, and one line (never a traceback) for each of them."""

import errno
import io
import json
import os
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from minisagan.checkpoint import load_checkpoint, save_checkpoint
from minisagan.data.folder import image_folder, load_rgb, to_rgb
from minisagan.errors import CheckpointError, ConfigError, DiskFullError, TrainingDiverged
from minisagan import training
from minisagan.run import loop
from minisagan.run.cli import glue_negative_numbers, main
from minisagan.run.config import TrainConfig
from minisagan.run.run_folder import RunFolderBusy, RunLock
from minisagan.run.logs import CsvLog, read_log
from minisagan.run.loop import resume, train
from minisagan.run.stream import real_batches
from minisagan.data import ShapesDataset

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(run_dir, **overrides) -> TrainConfig:
    values = dict(width=8, z_dim=16, batch_size=4, data_size=10, steps=4, log_every=1, sample_every=2,
                  checkpoint_every=2, eval_every=0, device="cpu", run_dir=str(run_dir))
    return TrainConfig.for_profile("smoke", **{**values, **overrides})


def image_tree(root, counts: dict[str, int], size=(40, 36)):
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("RGB", size, (200, 40 * i % 255, 90)).save(root / name / f"{i}.png")
    return root


def run_cli(args, capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


# --- images of every mode --------------------------------------------------------------------------

def saved(tmp_path, image: Image.Image, name: str):
    path = tmp_path / name
    image.save(path)
    return str(path)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    half = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))  # mid-grey in 16 bits
    assert half.mode.startswith("I;16")
    pixels = np.asarray(load_rgb(saved(tmp_path, half, "grey16.png")))
    assert pixels.shape == (8, 8, 3) and abs(int(pixels[0, 0, 0]) - 128) <= 1  # convert("RGB") gives 255


def test_float_image_in_unit_range_is_scaled_not_black(tmp_path):
    image = Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32))
    assert image.mode == "F"
    pixels = np.asarray(load_rgb(saved(tmp_path, image, "grey.tiff")))
    assert abs(int(pixels[0, 0, 1]) - 128) <= 1  # convert("RGB") gives 0


@pytest.mark.parametrize("values, expected", [((0, 255), (0, 255)), ((0, 65535), (0, 255)), ((-50, 50), (0, 255))])
def test_integer_images_are_scaled_by_their_range(values, expected):
    array = np.array([[values[0], values[1]]], dtype=np.int32)
    pixels = np.asarray(to_rgb(Image.fromarray(array, mode="I")))
    assert (pixels[0, 0, 0], pixels[0, 1, 0]) == expected


def test_transparency_is_laid_on_black():
    rgba = Image.new("RGBA", (2, 1), (255, 0, 0, 255))
    rgba.putpixel((1, 0), (0, 255, 0, 0))  # green but fully transparent
    assert np.asarray(to_rgb(rgba)).tolist() == [[[255, 0, 0], [0, 0, 0]]]
    palette = Image.new("P", (2, 1), 1)
    palette.putpalette([0, 0, 255, 255, 255, 0] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.info["transparency"] = 0  # colour 0 (blue) is transparent
    assert np.asarray(to_rgb(palette)).tolist() == [[[0, 0, 0], [255, 255, 0]]]


def test_cmyk_and_one_bit_images_convert_to_rgb():
    assert np.asarray(to_rgb(Image.new("CMYK", (1, 1), (0, 255, 255, 0)))).tolist() == [[[255, 0, 0]]]
    one_bit = Image.new("1", (2, 1), 0)
    one_bit.putpixel((1, 0), 1)
    assert np.asarray(to_rgb(one_bit))[0, :, 0].tolist() == [0, 255]


def test_images_smaller_than_the_resolution_warn_once_with_counts(tmp_path):
    root = image_tree(tmp_path / "images", {"a": 3, "b": 2}, size=(40, 40))
    Image.new("RGB", (8, 8)).save(root / "a" / "tiny.png")
    Image.new("RGB", (20, 12)).save(root / "b" / "small.png")
    with pytest.warns(UserWarning) as caught:
        image_folder(root, 32)
    assert len(caught) == 1
    assert re.search(r"2 of 7 images .* smaller than 32x32 \(the smallest is 8x8\)", str(caught[0].message))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # large enough: no warning
        image_folder(image_tree(tmp_path / "big", {"a": 2}, size=(40, 40)), 32)


# --- one writer per run folder ---------------------------------------------------------------------

def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    run_dir = tmp_path / "run"
    with RunLock(run_dir):
        with pytest.raises(RunFolderBusy, match=rf"in use by process {os.getpid()} on .*pick another run_dir"):
            train(tiny(run_dir), progress=False)
    assert not (run_dir / "metrics.csv").exists()  # the refused run wrote nothing
    train(tiny(run_dir, steps=1), progress=False)  # the lock went with its holder


def test_a_folder_with_another_runs_files_is_refused_unless_overwritten(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "samples").mkdir(parents=True)
    (run_dir / "samples" / "step_000999.png").write_bytes(b"old")
    (run_dir / "metrics.csv").write_text("step\n999\n")
    with pytest.raises(FileExistsError, match=r"is not empty \(metrics.csv, samples\).*--overwrite"):
        train(tiny(run_dir), progress=False)
    assert (run_dir / "metrics.csv").read_text() == "step\n999\n"
    train(tiny(run_dir, steps=2), overwrite=True, progress=False)
    assert read_log(run_dir / "metrics.csv")["step"] == [1, 2]
    assert not (run_dir / "samples" / "step_000999.png").exists()


def test_overwrite_never_deletes_files_that_no_run_writes(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="thesis.tex"):
        train(tiny(run_dir), overwrite=True, progress=False)
    assert (run_dir / "thesis.tex").read_text() == "precious"


def test_empty_run_dir_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match="'run_dir': must name a folder"):
        TrainConfig.for_profile("smoke", run_dir="")


class AlmostFullFile(io.FileIO):
    """A file on a disk with room for ``room`` bytes: a write past them fails as a full disk's does."""

    room = 0

    def write(self, data) -> int:
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def fill_the_disk(monkeypatch, room: int) -> None:
    """Every file opened by descriptor (the atomic writes' temporary files) finds ``room`` bytes free."""
    monkeypatch.setattr(AlmostFullFile, "room", room)
    monkeypatch.setattr(os, "fdopen", lambda fd, mode="rb", *args, **kwargs: io.BufferedWriter(AlmostFullFile(fd, "wb")))


def torch_save_on_a_full_disk(monkeypatch) -> None:
    """torch.save fails as it does when the disk fills under it: a RuntimeError raised while handling
    the OSError (writing to a file, not to `save_checkpoint`'s byte counter)."""
    save = torch.save

    def failing(obj, handle):
        if not hasattr(handle, "fileno"):
            return save(obj, handle)
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", failing)


@pytest.mark.parametrize("fault", ["the file's write", "torch's RuntimeError"])
def test_failed_checkpoint_write_leaves_no_temporary_file(tmp_path, monkeypatch, fault):
    path = tmp_path / "checkpoint.pt"
    fill_the_disk(monkeypatch, room=100) if fault == "the file's write" else torch_save_on_a_full_disk(monkeypatch)
    with pytest.raises(DiskFullError, match=rf"No space left on device in {re.escape(repr(str(tmp_path)))}: the "
                                            r"checkpoint of step 1 needs \S+ KB, .* free; there is no earlier checkpoint$") as err:
        save_checkpoint({"step": 1, "w": torch.zeros(1000)}, path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    save_checkpoint({"step": 1, "w": torch.zeros(1000)}, path)
    assert f"needs {path.stat().st_size / 1e3:.1f} KB" in str(err.value)


def test_a_full_disk_at_a_checkpoint_is_one_line_and_keeps_the_last_one(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    train(tiny(run, steps=2), progress=False)
    before = (run / "checkpoint.pt").read_bytes()
    fill_the_disk(monkeypatch, room=len(before) // 2)  # room for config.json and the logs, not a checkpoint
    code, err = run_cli(["resume", run, "--steps", "4", "--quiet"], capsys)
    line = re.fullmatch(rf"minisagan: error: No space left on device in {re.escape(repr(str(run)))}: the checkpoint "
                        r"of step 4 needs (\S+ [KMG]B), \S+ [KMG]B are free; the checkpoint of step 2 there is intact; "
                        rf"free space, then minisagan resume {re.escape(str(run))}\n", err)
    assert code == 1 and line, err
    assert (run / "checkpoint.pt").read_bytes() == before and not list(run.glob(".checkpoint.pt.*"))
    monkeypatch.undo()  # space freed: the run goes on from step 2, and the size said was the checkpoint's
    assert main(["resume", str(run), "--steps", "4", "--quiet"]) == 0
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 4
    assert line.group(1) == f"{(run / 'checkpoint.pt').stat().st_size / 1e6:.1f} MB"


def test_log_rewrite_on_resume_is_atomic(tmp_path, monkeypatch):
    log = CsvLog(tmp_path / "metrics.csv", ["step", "loss"])
    log.start()
    for step in (1, 2, 3):
        log.append({"step": step, "loss": 0.5})
    before = log.path.read_bytes()
    monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        log.truncate(2)
    assert log.path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]
    monkeypatch.undo()
    log.truncate(2)
    assert read_log(log.path)["step"] == [1, 2]


def test_the_data_order_does_not_draw_from_torchs_global_generator():
    before = torch.get_rng_state()
    next(real_batches(ShapesDataset(32, length=8), batch_size=4, seed=0, epoch=0, position=0))
    assert torch.equal(torch.get_rng_state(), before)


# --- resumes check what they cannot assume ---------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda root: image_tree(root, {"c": 2}), r"then 8 images in 2 classes, now 10 images in 3 classes"),
    (lambda root: image_tree(root, {"a": 6}), r"then 8 images in 2 classes, now 10 images in 2 classes"),
], ids=["class-added", "images-added"])
def test_resume_after_the_folder_changed_is_a_sentence(tmp_path, change, message):
    root = image_tree(tmp_path / "images", {"a": 4, "b": 4})
    run = train(tiny(tmp_path / "run", data=str(root), steps=2), progress=False)
    change(root)
    with pytest.raises(ConfigError, match=rf"'data': .* has changed .*{message}"):
        resume(run, steps=4, progress=False)


def test_resume_of_a_checkpoint_that_does_not_fit_its_networks_is_a_sentence(tmp_path):
    run = train(tiny(tmp_path / "run", steps=2), progress=False)
    saved_state = load_checkpoint(run / "checkpoint.pt")
    saved_state["config"]["width"] = 16
    save_checkpoint({k: v for k, v in saved_state.items() if k != "format_version"}, run / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="holds networks of another shape than its configuration builds"):
        resume(run, steps=4, progress=False)


def test_resume_never_goes_backwards_and_leaves_the_run_as_it_was(tmp_path):
    run = train(tiny(tmp_path / "run", steps=2), progress=False)
    config_before = (run / "config.json").read_text()
    for steps in (1, 2):
        with pytest.raises(ConfigError, match=r"'steps': the run .* is at step 2 already; .*--steps above 2"):
            resume(run, steps=steps, progress=False)
    assert (run / "config.json").read_text() == config_before


def test_resume_changes_learning_rates_and_device_and_records_them(tmp_path):
    run = train(tiny(tmp_path / "run", steps=2, device="auto"), progress=False)
    resume(run, steps=4, lr_d=2e-4, device="cpu", progress=False)
    ckpt = load_checkpoint(run / "checkpoint.pt")
    assert ckpt["step"] == 4 and ckpt["config"]["lr_d"] == 2e-4
    assert [g["lr"] for g in ckpt["opt_D"]["param_groups"]] == [2e-4]  # the optimizer took the new rate
    changes = (run / "changes.csv").read_text().splitlines()
    assert changes[0] == "step,time,key,old,new"
    assert [row.split(",")[2:] for row in changes[1:]] == [["steps", "2", "4"], ["lr_d", "0.0004", "0.0002"],
                                                           ["device", "auto", "cpu"]]
    assert json.loads((run / "config.json").read_text())["lr_d"] == 2e-4


def test_resume_refuses_keys_that_shape_the_run(tmp_path):
    with pytest.raises(ConfigError, match=r"'width' cannot change when a run resumes"):
        resume(tmp_path / "run", width=16, progress=False)


def test_a_cuda_run_resumes_on_the_cpu_when_told_to(tmp_path):
    run = train(tiny(tmp_path / "run", steps=2), progress=False)
    saved_state = load_checkpoint(run / "checkpoint.pt")
    saved_state["config"]["device"] = "cuda"  # as if trained on a GPU machine
    save_checkpoint({k: v for k, v in saved_state.items() if k != "format_version"}, run / "checkpoint.pt")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'device' is 'cuda' but this machine has no CUDA GPU"):
            resume(run, steps=3, progress=False)
    resume(run, steps=3, device="cpu", progress=False)
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 3


# --- the divergence guard looks after the update ---------------------------------------------------

@pytest.mark.parametrize("poison, message", [
    (lambda G: G.blocks[0].conv1.weight, r"by step 4: a weight of G became non-finite; loss_d [0-9]"),
    (lambda G: G.blocks[2].gamma, r"by step 4: a weight of G became non-finite; gamma_G.blocks.2 nan, loss_d"),
], ids=["weight", "gamma"])
def test_a_non_finite_weight_after_the_update_stops_before_any_save(tmp_path, monkeypatch, poison, message):
    real_step, calls = training.g_step, []

    def poison_at_step_4(G, *args, **kwargs):
        stats = real_step(G, *args, **kwargs)  # losses of this step are finite: they come before the update
        calls.append(1)
        if len(calls) == 4:  # a save step: its losses are finite, the weights after it are not
            with torch.no_grad():
                poison(G).fill_(float("nan"))
        return stats

    monkeypatch.setattr(training, "g_step", poison_at_step_4)
    with pytest.raises(TrainingDiverged, match=message):
        train(tiny(tmp_path / "run", log_every=2), progress=False)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["step"] == 2 and all(torch.isfinite(t).all() for t in ckpt["G"].values() if t.is_floating_point())


# --- sample and evaluate check their inputs --------------------------------------------------------

@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    return train(tiny(tmp_path_factory.mktemp("cli") / "run", steps=2), progress=False)


@pytest.mark.parametrize("command, n", [("sample", 0), ("sample", -1), ("evaluate", 0), ("evaluate", -3)])
def test_n_below_one_is_one_line(small_run, capsys, command, n):
    code, err = run_cli([command, small_run, "--n", n], capsys)
    assert code == 2 and err.strip() == f"minisagan: error: --n: the number of images must be at least 1 (got {n})"


def test_evaluate_with_too_few_images_for_fid_says_how_many(small_run, capsys):
    code, err = run_cli(["evaluate", small_run, "--n", 1], capsys)
    assert code == 2 and "need at least 128 images per set" in err and "got 1" in err
    assert not (small_run / "evaluation.json").exists()


@pytest.mark.parametrize("command", ["sample", "evaluate"])
def test_out_in_a_missing_folder_fails_before_any_work(small_run, tmp_path, capsys, monkeypatch, command):
    monkeypatch.setattr("minisagan.run.models.load_generator", lambda *a, **k: pytest.fail("worked first"))
    code, err = run_cli([command, small_run, "--out", tmp_path / "nowhere" / "out.png"], capsys)
    assert code == 2 and "the folder" in err and "nowhere" in err and "does not exist" in err


def test_evaluate_json_holds_no_nan(small_run, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    assert main(["evaluate", str(small_run), "--n", "128", "--out", str(out)]) == 0
    report = json.loads(out.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert report["images"] == 128 and all(report[k] is not None for k in ("fid_shapes", "kid_shapes"))


# --- one line for every error ----------------------------------------------------------------------

def test_an_operating_system_error_is_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    code, err = run_cli(["train", "--profile", "smoke", "--steps", "1", "--run-dir", tmp_path / "a_file" / "run",
                         "--quiet"], capsys)
    assert code in (1, 2) and err.count("\n") == 1 and "a_file" in err and "Traceback" not in err


def test_ctrl_c_is_one_line_saying_how_to_continue(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(loop, "resume", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    code, err = run_cli(["resume", tmp_path / "run"], capsys)
    assert code == 130 and err == f"minisagan: interrupted; continue with: minisagan resume {tmp_path / 'run'}\n"


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ConfigError):
        main(["train", "--profile", "smoke", "--steps", "0", "--run-dir", str(tmp_path / "run"), "--debug"])


@pytest.mark.parametrize("name, content, message", [
    ("run.yaml", b"steps: 3\n", r"write it as .toml or .json"),
    ("run.toml", b"steps = 3\nnote = '\xff\xfe'\n", r"is not UTF-8 text"),
])
def test_config_files_of_another_kind_are_named(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    code, err = run_cli(["train", "--config", path, "--run-dir", tmp_path / "run"], capsys)
    assert code == 2 and re.search(message, err) and name in err


def test_a_negative_number_reaches_the_validation(tmp_path, capsys):
    assert glue_negative_numbers(["--lr-d", "-1e-4", "--seed", "-3", "--quiet"]) == ["--lr-d=-1e-4", "--seed=-3",
                                                                                     "--quiet"]
    code, err = run_cli(["train", "--profile", "smoke", "--lr-d", "-1e-4", "--run-dir", tmp_path / "run"], capsys)
    assert code == 2 and "'lr_d': must be in (0, 1) (got -0.0001)" in err
