"""The pieces of the GPU check (issue 26) that run here too: the gpu-smoke profile, the chapters as
scripts (`benchmarks/gpu_chapters.py`) and the Inception throughput (`benchmarks/bench_inception.py`)."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from minisagan.profiles import PROFILES, active_profile, device_for
from minisagan.run.config import PRESETS, TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(name: str):
    """A script of benchmarks/ as a module (the folder is no package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the gpu-smoke profile ----------------------------------------------------------------------

def test_gpu_smoke_has_smokes_sizes_and_the_gpu_profiles_switches():
    smoke, gpu_smoke = PROFILES["smoke"], PROFILES["gpu-smoke"]
    assert gpu_smoke.chapter == smoke.chapter and gpu_smoke.name == "gpu-smoke"
    assert gpu_smoke.run == dataclasses.replace(smoke.run, amp="bf16", compile=True)
    assert (gpu_smoke.run.amp, gpu_smoke.run.compile) == (PROFILES["gpu"].run.amp, PROFILES["gpu"].run.compile)
    preset = PRESETS["gpu-smoke"]
    assert preset["amp"] == "bf16" and preset["compile"] is True
    assert {k: v for k, v in preset.items() if k not in ("amp", "compile")} == \
           {k: v for k, v in PRESETS["smoke"].items() if k not in ("amp", "compile")}
    config = TrainConfig.for_profile("gpu-smoke")
    assert (config.profile, config.steps, config.amp, config.compile) == ("gpu-smoke", PRESETS["smoke"]["steps"],
                                                                          "bf16", True)


def test_gpu_smoke_runs_on_cuda_only_where_there_is_one(monkeypatch):
    monkeypatch.setenv("MINISAGAN_PROFILE", "gpu-smoke")
    assert active_profile() == "gpu-smoke"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_for("gpu-smoke") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_for("gpu-smoke") == device_for("gpu") == torch.device("cuda")
    assert device_for("smoke") == torch.device("cpu")


# --- the chapters as scripts --------------------------------------------------------------------

def test_converted_chapter_keeps_every_code_cell(tmp_path):
    jupytext = pytest.importorskip("jupytext")
    chapters = _benchmark("gpu_chapters")
    chapter = ROOT / "book" / "03_self_attention.md"
    [script] = chapters.convert(chapters.chapter_paths(numbers=["03"]), tmp_path)
    assert script == tmp_path / "03_self_attention.py"
    text = script.read_text()
    headers = [line for line in text.splitlines() if line.startswith("# %%")]
    code_cells = [cell for cell in jupytext.read(chapter).cells if cell.cell_type == "code"]
    assert len([h for h in headers if "[markdown]" not in h]) == len(code_cells)
    assert all(cell.source.strip() in text for cell in code_cells)
    compile(text, str(script), "exec")  # a plain Python script: no magic left uncommented


def _write_chapters(folder: Path, **sources: str) -> Path:
    folder.mkdir()
    for name, source in sources.items():
        (folder / f"{name}.py").write_text(source)
    return folder


def test_runner_records_a_failing_chapter_and_runs_the_rest(tmp_path):
    chapters = _benchmark("gpu_chapters")
    folder = _write_chapters(
        tmp_path / "scripts",
        **{"00_fails": "print('before')\nraise ValueError('planted failure')\n",
           "01_sleeps": "import time\ntime.sleep(30)\n",
           "02_runs": "import os\nprint(f\"[profile {os.environ['MINISAGAN_PROFILE']}] the work took 0.1 s\")\n"
                      "assert os.environ['MPLBACKEND'] == 'Agg' and os.environ['MINISAGAN_STATIC'] == '1'\n"
                      "from pathlib import Path\nassert Path.cwd().name == 'book'\n"})
    out = tmp_path / "results.json"
    code = chapters.main(["--run", str(folder), "--profile", "smoke", "--out", str(out), "--timeout", "3"])
    assert code == 1
    results = json.loads(out.read_text())
    assert results["profile"] == "smoke" and results["machine"]["torch"] == torch.__version__
    failed, slept, ran = results["chapters"]
    assert failed["chapter"] == "00_fails" and failed["status"] == "failed" and failed["returncode"] != 0
    assert "ValueError: planted failure" in failed["stderr_tail"]
    assert slept["status"] == "timeout" and slept["seconds"] < 10
    assert ran["status"] == "ok" and ran["clocks"] == ["[profile smoke] the work took 0.1 s"]
    assert "stderr_tail" not in ran


def test_runner_skips_what_the_budget_does_not_cover(tmp_path):
    chapters = _benchmark("gpu_chapters")
    folder = _write_chapters(tmp_path / "scripts", **{"00_a": "", "01_b": ""})
    out = tmp_path / "results.json"
    assert chapters.main(["--run", str(folder), "--out", str(out), "--budget", "1"]) == 1
    assert [c["status"] for c in json.loads(out.read_text())["chapters"]] == ["skipped", "skipped"]


def test_chapter_gets_display_and_an_ipython_stand_in_where_ipython_is_absent(tmp_path, monkeypatch):
    chapters = _benchmark("gpu_chapters")
    hidden = tmp_path / "hidden" / "IPython"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('no IPython on this machine')\n")
    monkeypatch.setenv("PYTHONPATH", str(hidden.parent))
    folder = _write_chapters(tmp_path / "scripts", **{"08_shows": (
        "import matplotlib.pyplot as plt\nfrom IPython.display import HTML, display\n"
        "display(HTML('<b>map</b>'))\nplt.plot([0, 1])\nplt.show()\n"
        "print('figures open:', len(plt.get_fignums()))\ndisplay({'a': 1})\n")})
    out, log = tmp_path / "results.json", tmp_path / "log.txt"
    assert chapters.main(["--run", str(folder), "--profile", "smoke", "--out", str(out), "--log", str(log)]) == 0
    printed = log.read_text()
    assert "<HTML: 10 characters>" in printed and "figures open: 0" in printed and "{'a': 1}" in printed


# --- Inception throughput -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def bench_inception():
    pytest.importorskip("torch_fidelity")
    return _benchmark("bench_inception")


def test_random_inception_is_torch_fidelitys_network(bench_inception):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torchvision.models import inception_v3

    net = bench_inception.random_inception()
    assert isinstance(net, FeatureExtractorInceptionV3) and not net.training
    # the same tensors as torchvision's InceptionV3 with the FID network's 1008 classes (an independent
    # build of the architecture; the FID variant differs only in its pooling, which has no weights)
    reference = inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    with torch.inference_mode():
        features, logits = net(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    assert features.shape == (2, 2048) and logits.shape == (2, 1008) and torch.isfinite(features).all()
    other = bench_inception.random_inception()
    other.load_state_dict(net.state_dict())  # a real state dict still loads
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))


def test_inception_dry_run_reports_a_rate_and_the_minutes_it_implies(bench_inception, tmp_path):
    out = tmp_path / "inception.json"
    results = bench_inception.main(["--dry-run", "--out", str(out)])
    assert json.loads(out.read_text()) == results
    assert results["images_per_s"] > 0 and results["machine"]["device"] == "cpu"
    assert results["minutes_paper_eval_50k_plus_50k"] == pytest.approx(100_000 / results["images_per_s"] / 60, rel=0.01)
