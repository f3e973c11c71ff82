"""The run folder's files are one list (`RUN_FILES`) that the README and the loop's docstring name
exactly, that a run with every feature on writes, and that ``train --overwrite`` replaces whole."""

import json
import re
from pathlib import Path

import pytest

from minisagan.checkpoint import load_checkpoint
from minisagan.run import loop
from minisagan.run.cli import main
from minisagan.run.config import TrainConfig
from minisagan.run.evaluation import protocol
from minisagan.run.run_folder import LOCK_NAME, RUN_FILES
from minisagan.run.logs import read_log

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = ["--profile", "smoke", "--width", "8", "--z-dim", "16", "--batch-size", "4", "--data-size", "10",
        "--eval-every", "0", "--device", "cpu", "--quiet"]

pytestmark = pytest.mark.usefixtures("one_thread")


def top_level(name: str) -> str:
    """``samples/step_*.png`` -> ``samples``: the entry of the run folder a path lies in."""
    return name.strip().split("/")[0]


def readme_table_names() -> set[str]:
    """The names in the first column of the README's table of a run folder's files."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| file | what |") + 2  # past the header and its rule
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    cells = [line.split("|")[1] for line in lines[start:end]]
    return {top_level(name) for cell in cells for name in re.findall(r"`([^`]+)`", cell)}


def docstring_names() -> set[str]:
    """The names in the first column of the list of files in `minisagan.run.loop`'s docstring."""
    doc = loop.__doc__
    block = doc[doc.index("A run folder holds"):].split("\n\n")[1]
    firsts = [re.split(r"\s{2,}", line.strip())[0] for line in block.splitlines()]
    return {top_level(name) for first in firsts for name in first.split(",") if name.strip()}


def test_readme_and_the_loops_docstring_name_exactly_the_run_files():
    assert readme_table_names() == set(RUN_FILES)
    assert docstring_names() == set(RUN_FILES)
    assert LOCK_NAME in RUN_FILES and all(RUN_FILES.values())  # each with its line


def test_a_run_with_every_feature_is_replaced_by_overwrite(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "4", "--checkpoint-every", "2", "--sample-every", "2",
                 "--keep-every", "2", "--run-dir", str(run)]) == 0
    assert main(["resume", str(run), "--steps", "6", "--quiet"]) == 0  # changes.csv
    # What a run with --inception-weights and `minisagan evaluate` add (no weights needed to write them)
    config = TrainConfig.from_file(run / "config.json")
    (run / "protocol.json").write_text(json.dumps(protocol(config.replace(inception_weights="w.pth"), 10)))
    (run / "evaluation.json").write_text(json.dumps({"checkpoint": str(run / "checkpoint.pt"), "fid_inception": 1}))
    (run / "checkpoints" / "step_0000004.evaluation.json").write_text("{}")
    assert {p.name for p in run.iterdir()} == set(RUN_FILES)  # every entry of the list, and nothing else

    assert main(["train", *TINY, "--steps", "2", "--run-dir", str(run), "--overwrite"]) == 0
    assert {p.name for p in run.iterdir()} == {"config.json", "metrics.csv", "eval.csv", "samples", "attention",
                                               "curves.png", "checkpoint.pt", LOCK_NAME}
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 2
    assert read_log(run / "metrics.csv")["step"] == [2]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["latest.png", "step_000002.png"]
    assert main(["resume", str(run), "--steps", "3", "--quiet"]) == 0  # the new run is whole


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard link", "no hard links"])
def test_a_kept_checkpoint_is_whole_or_absent_with_or_without_hard_links(tmp_path, monkeypatch, hard_links):
    from minisagan.run import checkpoints

    source = tmp_path / "checkpoint.pt"
    source.write_bytes(b"weights" * 1000)
    kept = tmp_path / "checkpoints" / "step_0000004.pt"
    if not hard_links:
        def no_links(*args):
            raise OSError("links not supported")
        monkeypatch.setattr(checkpoints.os, "link", no_links)
    checkpoints._keep_copy(source, kept)
    assert kept.read_bytes() == source.read_bytes()
    assert (kept.stat().st_ino == source.stat().st_ino) is hard_links  # a link shares the bytes on disk
    assert sorted(p.name for p in kept.parent.iterdir()) == ["step_0000004.pt"]  # no temporary left

    # a copy that fails midway leaves no kept file and no temporary one
    kept.unlink()

    def broken_copy(src, dst):
        Path(dst).write_bytes(b"half")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(checkpoints.os, "link", lambda *a: (_ for _ in ()).throw(OSError("no links")))
    monkeypatch.setattr(checkpoints.shutil, "copyfile", broken_copy)
    with pytest.raises(OSError, match="No space left"):
        checkpoints._keep_copy(source, kept)
    assert list(kept.parent.iterdir()) == []
