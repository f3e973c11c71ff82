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


def test_shape_features_read_their_own_columns_and_leave_the_paper_out(tmp_path, capsys):
    """A run on the built-in data: its eval.csv and kept evaluations hold fid_shapes / is_shapes."""
    root = tmp_path / "toy"
    root.mkdir()
    (root / "eval.csv").write_text("step,seconds,fid_shapes,is_shapes,fid_inception\n10,1.0,30.0,2.0,\n20,2.0,25.0,2.5,\n")
    (root / "checkpoints").mkdir()
    for step, fid in ((10, 31.0), (20, 26.5)):
        (root / "checkpoints" / f"step_{step:07d}.pt").write_bytes(b"")
        (root / "checkpoints" / f"step_{step:07d}.evaluation.json").write_text(json.dumps({"fid_shapes": fid}))
    assert run_points(root, "shapes")["in-run FID"] == {10: 30.0, 20: 25.0}
    assert run_points(root)["in-run FID"] == {}  # no Inception figures in this run
    assert best_checkpoint(root, "shapes") == (root / "checkpoints" / "step_0000020.pt", 26.5)
    labels = [line.get_label() for line in curves_figure([root], "shapes").axes[0].get_lines()]
    assert labels == ["toy, in-run", "toy, checkpoints"]  # no paper's points on other features
    out = tmp_path / "c.png"
    assert main(["curves", str(root), "--features", "shapes", "--out", str(out)]) == 0
    assert "best kept checkpoint step_0000020.pt, FID 26.50" in capsys.readouterr().out and out.is_file()
    assert main(["curves", str(root), "--out", str(tmp_path / "no" / "c.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
