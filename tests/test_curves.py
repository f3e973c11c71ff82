"""`minisagan curves` on synthetic run folders: the in-run points of eval.csv and the kept
checkpoints' evaluations, the best checkpoint by FID, the paper's points in the figure."""

import json

import pytest

from minisagan.imagenet import PAPER_FID_PATH, best_checkpoint, curves_figure, run_points
from minisagan.run.cli import main


def fake_run(root, evals: dict[int, tuple[float, float]], kept: dict[int, dict]):
    root.mkdir(parents=True)
    lines = ["step,seconds,fid_shapes,fid_inception,is_inception"]
    lines += [f"{step},1.0,,{fid},{inception_score}" for step, (fid, inception_score) in evals.items()]
    (root / "eval.csv").write_text("\n".join(lines) + "\n")
    (root / "checkpoints").mkdir()
    for step, report in kept.items():
        (root / "checkpoints" / f"step_{step:07d}.pt").write_bytes(b"")
        (root / "checkpoints" / f"step_{step:07d}.evaluation.json").write_text(json.dumps(report))
    return root


@pytest.fixture
def run(tmp_path):
    return fake_run(tmp_path / "imagenet128", {50_000: (60.0, 12.0), 100_000: (45.0, 20.0)},
                    {50_000: {"fid_inception": 55.0, "is_inception": 14.0},
                     100_000: {"fid_inception": 41.0, "fid_inception_train": 39.5},
                     150_000: {"fid_inception_train": 44.0}})


def test_a_runs_points_and_its_best_checkpoint(run):
    points = run_points(run)
    assert points["in-run FID"] == {50_000: 60.0, 100_000: 45.0} and points["in-run IS"][100_000] == 20.0
    assert points["checkpoints FID"] == {50_000: 55.0, 100_000: 39.5, 150_000: 44.0}  # train's FID first
    assert best_checkpoint(run) == (run / "checkpoints" / "step_0100000.pt", 39.5)
    assert best_checkpoint(run.parent / "nothing") is None


def test_the_figure_holds_the_papers_path_and_the_run(run):
    figure = curves_figure([run])
    fid_axis = figure.axes[0]
    lines = {line.get_label(): line for line in fid_axis.get_lines()}
    paper = next(line for label, line in lines.items() if label.startswith("paper, Figure 4"))
    assert list(paper.get_xdata()) == list(PAPER_FID_PATH) and list(paper.get_ydata()) == list(PAPER_FID_PATH.values())
    assert list(lines["imagenet128, checkpoints"].get_ydata()) == [55.0, 39.5, 44.0]
    assert any("18.65" in label for label in lines)  # Table 2's FID


def test_the_command_writes_the_figure_and_names_the_best(run, tmp_path, capsys):
    out = tmp_path / "curves.png"
    assert main(["curves", str(run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "best kept checkpoint step_0100000.pt, FID 39.50" in printed and out.stat().st_size > 10_000


def test_evaluate_without_weights_and_a_missing_run_are_one_line(run, tmp_path, capsys):
    assert main(["curves", str(run), "--evaluate", "--out", str(tmp_path / "c.png")]) == 2
    assert "--evaluate: pass --inception-weights PATH" in capsys.readouterr().err
    assert main(["curves", str(tmp_path / "nowhere")]) == 2
    assert "is not a run folder" in capsys.readouterr().err
