"""Every exercise's solution passes its checker; wrong answers fail it and say how far off they are."""

import __future__
import ast
import importlib
import re
from pathlib import Path

import jupytext
import pytest
import torch
import torch.nn.functional as F

from minisagan.data import sample_shapes
from minisagan.exercises import CheckResult, ch00, ch01, ch05, ch06
from minisagan.bookbuild.mirror import chapter_paths

ROOT = Path(__file__).resolve().parents[1]


def solutions(chapter: Path) -> tuple[str, list[tuple[str, str]]]:
    """The chapter's first code cell (its imports) and the code cells inside each solution, by label."""
    notebook = jupytext.read(chapter)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    found, label = [], None
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            # a markdown cell may close one solution and open the next: the last directive counts
            for directive in re.finditer(r"```\{solution-(start|end)\}\s*(\S*)", cell.source):
                label = directive[2] if directive[1] == "start" else None
        elif label is not None:
            found.append((label, cell.source))
    return code[0].source, found


def run_cell(source: str, namespace: dict):
    """exec a cell; return the value of its last expression, as a notebook would display it."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), namespace)
    return eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace) if last else None


def _all_solutions():
    for chapter in chapter_paths(ROOT):
        preamble, found = solutions(chapter)
        for label, source in found:
            yield pytest.param(chapter, preamble, source, id=f"{chapter.stem}:{label}")


@pytest.mark.parametrize("chapter, preamble, source", list(_all_solutions()))
def test_solution_passes_its_checker(chapter, preamble, source, monkeypatch):
    monkeypatch.chdir(chapter.parent)
    namespace = {}
    run_cell(preamble, namespace)
    # Solutions may use functions the chapter defined earlier: define them (and nothing else, so
    # no training runs) before the solution.
    definitions = (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
    for cell in jupytext.read(chapter).cells:
        if cell.cell_type == "code":
            body = [node for node in ast.parse(cell.source).body if isinstance(node, definitions)]
            module = ast.Module(body=body, type_ignores=[])
            # lazy annotations: a definition may name a class defined later in the chapter
            exec(compile(module, "<definitions>", "exec", flags=__future__.annotations.compiler_flag), namespace)
    result = run_cell(source, namespace)
    assert isinstance(result, CheckResult), "a solution ends by calling its checker"
    assert result.passed, repr(result)


def test_every_chapter_has_exercises_with_solutions_and_every_checker_is_used():
    for chapter in chapter_paths(ROOT):
        text = chapter.read_text()
        _, found = solutions(chapter)
        labels = re.findall(r"```\{exercise\}.*\n:label: (\S+)", text)
        assert len(labels) >= 3, f"{chapter.name} has {len(labels)} exercises"
        assert {label for label, _ in found} == set(labels), f"{chapter.name}: an exercise lacks a solution"
        module = importlib.import_module(f"minisagan.exercises.ch{chapter.name[:2]}")
        checkers = {name for name, obj in vars(module).items()
                    if name.startswith("check_") and getattr(obj, "__module__", None) == module.__name__}
        used = {name for _, source in found for name in checkers if f"{name}(" in source}
        assert used == checkers, f"{chapter.name}: checkers without a solution: {checkers - used}"


# --- Wrong answers fail, and the message says how far off they are --------------------------------

def test_hinge_checker_rejects_a_loss_without_the_margin():
    result = ch01.check_hinge_d_loss(lambda real, fake: F.relu(-real).mean() + F.relu(fake).mean())
    assert not result.passed and "off by" in result.message


def test_hinge_checker_rejects_swapped_signs_and_non_tensors():
    assert not ch01.check_hinge_d_loss(lambda real, fake: F.relu(1 + real).mean() + F.relu(1 - fake).mean())
    result = ch01.check_hinge_d_loss(lambda real, fake: 0.5)
    assert not result.passed and "expected a tensor" in result.message


def test_hinge_checker_rejects_a_sum_instead_of_a_mean():
    assert not ch01.check_hinge_d_loss(lambda real, fake: F.relu(1 - real).sum() + F.relu(1 + fake).sum())


def test_hinge_by_hand_checker_reports_the_distance():
    assert ch01.check_hinge_by_hand(5 / 3).passed
    result = ch01.check_hinge_by_hand(2.5)
    assert not result.passed and "off by 0.833" in result.message
    assert not ch01.check_hinge_by_hand("about two").passed


def test_ns_checker_rejects_the_overflowing_formula():
    result = ch01.check_ns_g_loss(lambda s: -torch.log(torch.sigmoid(s)).mean())
    assert not result.passed and "inf or nan" in result.message


def test_ns_checker_rejects_the_saturating_loss():
    # log(1 - sigmoid(s)): the minimax generator loss the non-saturating one replaced
    assert not ch01.check_ns_g_loss(lambda s: -F.softplus(s).mean())


def test_twin_checker_rejects_the_off_by_one_mirror():
    result = ch00.check_twin_position(lambda x, y, size: (size - 1 - x, y))
    assert not result.passed and "expected" in result.message
    assert not ch00.check_twin_position(lambda x, y, size: (size - x, size - y))


def test_half_consistent_checker_rejects_all_real_and_blank_images():
    real, _ = sample_shapes(20, seed=0)
    result = ch00.check_half_consistent(real)
    assert not result.passed and "1.000, not 0.5" in result.message
    blank = real.clone()
    blank[10:] = -1
    assert "lack an object" in ch00.check_half_consistent(blank).message
    assert not ch00.check_half_consistent(real[:5]).passed


def test_receptive_field_checker_rejects_near_misses():
    assert ch00.check_receptive_field_layers(6).passed
    assert not ch00.check_receptive_field_layers(12).passed
    assert not ch00.check_receptive_field_layers(5).passed


def test_fid_by_hand_checker_rejects_the_mean_term_alone():
    assert ch05.check_fid_by_hand(7).passed
    assert "off by 2" in ch05.check_fid_by_hand(5).message


def test_kid_checker_rejects_the_biased_estimate():
    def biased(a, b):  # keeps the diagonal terms: the V-statistic, biased upwards
        d = a.shape[1]
        k = lambda x, y: (x @ y.T / d + 1) ** 3
        return k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()

    result = ch05.check_kid_by_hand(biased)
    assert not result.passed and "off by" in result.message


def test_fooled_is_checker_rejects_consistent_and_too_few_images():
    real, _ = sample_shapes(500, seed=3)
    assert "consistency is 1.00" in ch05.check_fooled_is(real).message
    assert not ch05.check_fooled_is(real[:100]).passed


def hand_d_step(score, loss):
    """A D step for the checker: ``score(D, real, fake, y_real, y_fake) -> (real_scores, fake_scores)``."""
    def step(G, D, opt_D, real, y_real, z, y_fake):
        with torch.no_grad():
            fake = G(z, y_fake)
        value = loss(*score(D, real, fake, y_real, y_fake))
        opt_D.zero_grad()
        value.backward()
        opt_D.step()
        return value
    return step


def one_call(D, real, fake, y_real, y_fake):
    scores = D(torch.cat([real, fake]), torch.cat([y_real, y_fake]))
    return scores[: len(real)], scores[len(real):]


def test_d_step_checker_rejects_two_calls_of_d():
    two_calls = hand_d_step(lambda D, real, fake, y_real, y_fake: (D(real, y_real), D(fake, y_fake)),
                            lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean())
    result = ch06.check_d_step(two_calls)
    assert not result.passed and "batches of [4, 4]" in result.message
    assert ch06.check_d_step(hand_d_step(one_call, lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean())).passed


def test_d_step_checker_rejects_the_non_saturating_loss():
    result = ch06.check_d_step(hand_d_step(one_call, lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean()))
    assert not result.passed and "the loss: off by" in result.message


def test_n_dis_checker_wants_both_counts():
    assert ch06.check_n_dis(50, 1600).passed
    assert "D updates: 10 is off by 40" in ch06.check_n_dis(10, 320).message
    assert "real images D sees: 320" in ch06.check_n_dis(50, 320).message


def test_ema_checker_rejects_averaged_vectors_and_copied_vectors():
    from minisagan.spectral_norm import power_iteration

    @torch.no_grad()
    def averaged(ema, layer, decay):
        ema.weight.lerp_(layer.weight, 1 - decay)
        ema.sn_u.lerp_(layer.sn_u, 1 - decay)
        ema.sn_v.lerp_(layer.sn_v, 1 - decay)

    @torch.no_grad()
    def copied(ema, layer, decay):  # G's vectors belong to G's weight, not to the average
        ema.weight.lerp_(layer.weight, 1 - decay)
        ema.sn_u.copy_(layer.sn_u)
        ema.sn_v.copy_(layer.sn_v)

    @torch.no_grad()
    def unaveraged_weight(ema, layer, decay):
        ema.weight.copy_(layer.weight)
        _, u, v = power_iteration(ema.weight, ema.sn_v)
        ema.sn_u.copy_(u)
        ema.sn_v.copy_(v)

    assert "shorter than 1" in ch06.check_ema_of_sn_layer(averaged).message
    assert "do not belong to its weight" in ch06.check_ema_of_sn_layer(copied).message
    assert "the averaged weight: off by" in ch06.check_ema_of_sn_layer(unaveraged_weight).message
