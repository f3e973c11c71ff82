"""Every exercise's solution passes its checker; the catalog names each exercise's checker and answers
as the solutions do; every mistake a chapter warns about is named by its checker; a wrong signature,
an answer that raises or one left as `...` gets a sentence, never a traceback."""

import __future__
import ast
import importlib
import re
from pathlib import Path

import jupytext
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minisagan.data import sample_shapes
from minisagan.exercises import CheckResult, ch00, ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08
from minisagan.exercises.catalog import EXERCISES, chapter_exercises
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


def test_the_catalog_lists_each_chapters_exercises_with_the_checker_its_solution_calls():
    from minisagan.bookbuild.assignments import split_solution
    from minisagan.bookbuild.solutions import book_exercises

    for chapter in chapter_paths(ROOT):
        found, listed = book_exercises(chapter), chapter_exercises(int(chapter.name[:2]))
        assert len(found) == len(listed), f"{chapter.name}: {len(found)} exercises, the catalog lists {len(listed)}"
        for book_exercise, exercise in zip(found, listed):
            last_code = [source for kind, source in book_exercise.solution if kind == "code"][-1]
            split_solution(exercise, last_code, book_exercise.label)  # raises unless it ends with the checker's call
        names = [name for exercise in listed for name in exercise.answers]
        assert len(names) == len(set(names)), f"{chapter.name}: two exercises define the same name"


def bound_at_top_level(source: str) -> set[str]:
    """The names a cell binds in the notebook's namespace: not those local to a function, class or comprehension."""
    source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    names, todo = set(), list(ast.parse(source).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        todo += list(ast.iter_child_nodes(node))
    return names


def test_no_answer_name_is_bound_by_its_chapters_own_code():
    from minisagan.bookbuild.solutions import chapter_layout

    assert bound_at_top_level("import torch.nn as nn\nW = 1\ndef f(x):\n    v = x\nfor i in []:\n    u = i") == {
        "nn", "W", "f", "i", "u"}
    for chapter in chapter_paths(ROOT):
        number = int(chapter.name[:2])
        code = set().union(*(bound_at_top_level(item[1].source) for item in chapter_layout(jupytext.read(chapter), number)
                             if item[0] == "code"))
        for exercise in chapter_exercises(number):
            assert not code & set(exercise.answers), (f"{chapter.name}: the chapter's code binds {code & set(exercise.answers)}, "
                                                      f"an answer name of Exercise {exercise.number}")


# --- Wrong answers: each mistake a chapter warns about is named ------------------------------------

def hinge(real, fake):
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hand_d_step(score=None, loss=hinge, *, fakes="no_grad", zero_grad=True, backward=True, step=True):
    """A D step for the checker: ``score(D, real, fake, y_real, y_fake) -> (real_scores, fake_scores)``;
    fakes: made under "no_grad", "detach"ed after a graph was built, "with_graph", "none" (zeros, not G's),
    or under no_grad "and_move_g" (a step that also changes G's weights)."""
    def d_step(G, D, opt_D, real, y_real, z, y_fake):
        if fakes == "no_grad":
            with torch.no_grad():
                fake = G(z, y_fake)
        elif fakes == "none":
            fake = torch.zeros_like(real)
        elif fakes == "and_move_g":
            with torch.no_grad():
                fake = G(z, y_fake)
                next(G.parameters()).add_(0.1)
        else:
            fake = G(z, y_fake).detach() if fakes == "detach" else G(z, y_fake)
        value = loss(*(score or one_call)(D, real, fake, y_real, y_fake))
        if zero_grad:
            opt_D.zero_grad()
        if backward:
            value.backward()
        if step:
            opt_D.step()
        return value
    return d_step


def one_call(D, real, fake, y_real, y_fake):
    scores = D(torch.cat([real, fake]), torch.cat([y_real, y_fake]))
    return scores[: len(real)], scores[len(real):]


def two_calls(D, real, fake, y_real, y_fake):
    return D(real, y_real), D(fake, y_fake)


def attention(axis=1, scale=1.0, residual=True, use_gamma=True):
    def block(x, Wf, Wg, Wh, gamma):
        X = x.flatten(2)
        s = (Wf @ X).transpose(1, 2) @ (Wg @ X) * scale(Wf) if callable(scale) else (Wf @ X).transpose(1, 2) @ (Wg @ X)
        o = (Wh @ X @ s.softmax(dim=axis)).reshape(x.shape)
        return (gamma if use_gamma else 1) * o + (x if residual else 0)
    return block


@torch.no_grad()
def ema_averaging_vectors(ema, layer, decay):
    for name in ("weight", "sn_u", "sn_v"):
        getattr(ema, name).lerp_(getattr(layer, name), 1 - decay)


@torch.no_grad()
def ema_copying_vectors(ema, layer, decay):  # G's vectors belong to G's weight, not to the average
    ema.weight.lerp_(layer.weight, 1 - decay)
    ema.sn_u.copy_(layer.sn_u)
    ema.sn_v.copy_(layer.sn_v)


@torch.no_grad()
def ema_copied_weight(ema, layer, decay):
    from minisagan.spectral_norm import power_iteration

    ema.weight.copy_(layer.weight)
    _, u, v = power_iteration(ema.weight, ema.sn_v)
    ema.sn_u.copy_(u)
    ema.sn_v.copy_(v)


@torch.no_grad()
def ema_reversed_decay(ema, layer, decay):
    from minisagan.spectral_norm import power_iteration

    ema.weight.lerp_(layer.weight, decay)
    _, u, v = power_iteration(ema.weight, ema.sn_v)
    ema.sn_u.copy_(u)
    ema.sn_v.copy_(v)


def moments(bias=False, dtype=np.float64, passes=1):
    """A `my_moments` by the formula of Chapter 7: sums of x and x x^T, in ``dtype``; ``passes=2``
    reads the batches again for a mean first."""
    def streamed(batches):
        if passes == 2:
            sum(len(b) for b in batches)
        n, total, outer = 0, np.zeros(6, dtype), np.zeros((6, 6), dtype)
        for batch in batches:
            x = batch.astype(dtype)
            n, total, outer = n + len(x), total + x.sum(0), outer + x.T @ x
        mu = total / n
        return n, mu, (outer - n * np.outer(mu, mu)) / (n if bias else n - 1)
    return streamed


@torch.no_grad()
def ema_stale_vectors(ema, layer, decay):  # the weight averaged, its vectors never updated
    ema.weight.lerp_(layer.weight, 1 - decay)


def squared_photo(crop):
    """A wrong `my_load_square`: the whole photo squashed, or the square cut at the top-left corner."""
    from PIL import Image

    def load(path, resolution):
        image = Image.open(path).convert("RGB")
        w, h = image.size
        box = (0, 0, w, h) if crop == "squashed" else (0, 0, min(w, h), min(w, h))
        return np.asarray(image.resize((resolution, resolution), Image.Resampling.BICUBIC, box=box), dtype=np.uint8)
    return load


def sigmas():
    W1, W2 = (w.double() for w in ch02.exercise_weights())
    return torch.linalg.svdvals(W1)[0].item(), torch.linalg.svdvals(W2)[0].item()


N, C = 32 * 32, 64
CONVS, PRODUCTS = N * C * (C // 8) * 2 + N * C * C, N * N * (C // 8) + N * N * C
BLOCK_CONVS = 256 * 128 * 9 + 128 + 128 * 128 * 9 + 128 + 256 * 128 + 128

MISTAKES = [  # (checker, a wrong answer, the mistake's name, words its message must hold)
    (ch00.check_twin_position, lambda x, y, size: (size - 1 - x, y), "off-by-one", "S - 1 - x"),
    (ch00.check_twin_position, lambda x, y, size: (size - x, size - y), "both-axes", "row stays"),
    (ch00.check_receptive_field_layers, 12, "one-pixel-per-layer", "one pixel on each side"),
    (ch00.check_receptive_field_layers, 5, "off-by-one", "span 13 pixels"),
    (ch01.check_hinge_d_loss, lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum(), "sum-instead-of-mean",
     "a sum where eq. (4) takes a mean"),
    (ch01.check_hinge_d_loss, lambda r, f: torch.cat([F.relu(1 - r), F.relu(1 + f)]).mean(), "one-mean-over-both",
     "each term over its own batch"),
    (ch01.check_hinge_d_loss, lambda r, f: F.relu(-r).mean() + F.relu(f).mean(), "no-margin", "margin is missing"),
    (ch01.check_hinge_d_loss, lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean(), "swapped-signs", "swapped"),
    (ch01.check_hinge_by_hand, 5.0, "sum-instead-of-mean", "a sum where eq. (4) takes a mean"),
    (ch01.check_ns_g_loss, lambda s: -torch.log(torch.sigmoid(s)).mean(), "overflow", "softplus(-s)"),
    (ch01.check_ns_g_loss, lambda s: -F.softplus(s).mean(), "saturating", "saturating loss"),
    (ch01.check_ns_g_loss, lambda s: F.softplus(-s).sum(), "sum-instead-of-mean", "takes a mean"),
    (ch01.check_ns_g_loss, lambda s: -F.softplus(-s).mean(), "wrong-sign", "sign is flipped"),
    (ch02.check_power_step, lambda W, v: (W @ v, F.normalize(W.T @ F.normalize(W @ v, dim=0), dim=0)),
     "no-normalization", "u is not normalized"),
    (ch02.check_power_step, lambda W, v: (F.normalize(W.T @ F.normalize(W @ v, dim=0), dim=0), F.normalize(W @ v, dim=0)),
     "swapped-outputs", "wrong order"),
    (ch02.check_power_step, lambda W, v: (F.normalize(W @ v, dim=0), W.T @ F.normalize(W @ v, dim=0)),
     "no-normalization", "v_next is not normalized"),
    (ch02.check_power_step, lambda W, v: (F.normalize(W @ v, dim=0), v), "v-unchanged", "the vector you were given"),
    (ch02.check_lipschitz_bound, (lambda W1, W2: (W1.norm() * W2.norm()).item())(*ch02.exercise_weights()),
     "frobenius-norm", "Frobenius"),
    (ch02.check_lipschitz_bound, sum(sigmas()), "sum-instead-of-product", "multiply"),
    (ch03.check_attention_block, attention(axis=2), "softmax-axis", "softmax runs over the wrong axis"),
    (ch03.check_attention_block, attention(scale=lambda Wf: Wf.shape[0] ** -0.5), "sqrt-scaling", "sqrt(d)"),
    (ch03.check_attention_block, attention(scale=lambda Wf: Wf.shape[1] ** -0.5), "sqrt-scaling", "sqrt(d)"),
    (ch03.check_attention_block, attention(axis=2, scale=lambda Wf: Wf.shape[0] ** -0.5), "softmax-axis+sqrt-scaling",
     "two mistakes"),
    (ch03.check_attention_block, attention(residual=False), "no-residual", "residual is missing"),
    (ch03.check_attention_block, attention(use_gamma=False), "no-gamma", "gamma is missing"),
    (ch03.check_wrong_axis, lambda q, k, v: ((q @ k.transpose(1, 2)).softmax(-1) @ v, (q @ k.transpose(1, 2)).softmax(-1)),
     "correct-axis", "that is the correct attention"),
    (ch03.check_wrong_axis, lambda q, k, v: (q @ k.transpose(1, 2)).softmax(1), "not-a-pair", "(o, beta)"),
    (ch03.check_wrong_axis, lambda q, k, v: ((q @ k.transpose(1, 2) / 2).softmax(1) @ v,
                                             (q @ k.transpose(1, 2) / 2).softmax(1)), "sqrt-scaling", "sqrt(d)"),
    (ch03.check_attention_macs, PRODUCTS, "products-only", "1x1 convolutions are missing"),
    (ch03.check_attention_macs, CONVS, "convolutions-only", "matrix products are missing"),
    (ch03.check_attention_macs, N * C * C * 3 + 2 * N * N * C, "full-width-keys", "C/8 channels"),
    (ch04.check_projection, lambda phi, table, y: table[y] @ phi.T, "all-pairs", "its own class"),
    (ch04.check_gblock_parameters, BLOCK_CONVS - 3 * 128 + 2 * 10 * 384, "no-biases", "biases"),
    (ch04.check_gblock_parameters, BLOCK_CONVS - 256 * 128 - 128 + 2 * 10 * 384, "no-shortcut", "shortcut"),
    (ch04.check_gblock_parameters, BLOCK_CONVS + 2 * 384, "unconditional-norm", "per class"),
    (ch04.check_gblock_parameters, BLOCK_CONVS, "no-norm", "batch norms"),
    (ch04.check_attention_memory, 4096 * 4096 * 4, "unpooled-keys", "pools the keys"),
    (ch04.check_attention_memory, 4096 * 1024, "elements-not-bytes", "4 bytes"),
    (ch05.check_fid_by_hand, 5, "mean-term-only", "trace term"),
    (ch05.check_fid_by_hand, 15, "no-cross-term", "- 2 (S1 S2)^(1/2)"),
    (ch05.check_fid_by_hand, -1, "no-square-root", "square root"),
    (ch06.check_d_step, hand_d_step(two_calls), "two-d-calls", "D was called 2 times"),
    (ch06.check_d_step, hand_d_step(fakes="detach"), "graph-through-g", "built a graph through G"),
    (ch06.check_d_step, hand_d_step(fakes="with_graph"), "graph-through-g", "torch.no_grad()"),
    (ch06.check_d_step, hand_d_step(loss=lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum()),
     "sum-instead-of-mean", "a sum where eq. (4)"),
    (ch06.check_d_step, hand_d_step(loss=lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean()), "not-hinge",
     "non-saturating"),
    (ch06.check_d_step, hand_d_step(zero_grad=False), "no-zero-grad", "zero_grad"),
    (ch06.check_d_step, hand_d_step(step=False), "no-optimizer-step", "opt_D.step()"),
    (ch06.check_d_step, hand_d_step(backward=False), "no-backward", "loss.backward()"),
    (ch06.check_d_step, hand_d_step(fakes="none"), "no-fakes", "G was never called"),
    (ch06.check_d_step, hand_d_step(fakes="and_move_g"), "trained-g", "must not train G"),
    (ch06.check_n_dis, (10, 320), "one-d-step-per-g-step", "five D updates"),
    (ch06.check_n_dis, (50, 320), "one-batch-per-g-step", "fresh real batch"),
    (ch06.check_ema_of_sn_layer, ema_averaging_vectors, "averaged-sn-vectors", "averaged the spectral-norm vectors"),
    (ch06.check_ema_of_sn_layer, ema_copying_vectors, "copied-sn-vectors", "do not belong to its weight"),
    (ch06.check_ema_of_sn_layer, ema_reversed_decay, "decay-reversed", "wrong way round"),
    (ch06.check_ema_of_sn_layer, ema_copied_weight, "weight-copied", "copied, not averaged"),
    (ch06.check_ema_of_sn_layer, ema_stale_vectors, "stale-sn-vectors", "do not belong to its weight"),
    (ch07.check_load_square, squared_photo("squashed"), "squashed", "cut the centred square first"),
    (ch07.check_load_square, squared_photo("corner"), "not-centred", "centre it"),
    (ch07.check_streaming_moments, moments(bias=True), "biased", "n - 1"),
    (ch07.check_streaming_moments, moments(dtype=np.float32), "float32-sums", "float64"),
    (ch07.check_streaming_moments, moments(passes=2), "two-passes", "read once"),
    (ch07.check_store_sizes, (62.97, 15.74, 32), "gb-not-gib", "GiB is 2^30 bytes"),
    (ch07.check_store_sizes, (58.66, 14.66, 256), "global-batch", "global batch"),
    (ch08.check_most_attended, lambda m, b, r, c: divmod(int(m[b, r, c].argmax()), m.shape[-1])[::-1],
     "row-col-swapped", "(col, row)"),
    (ch08.check_most_attended, lambda m, b, r, c: int(m[b, r, c].argmax()), "flat-index", "flat index"),
    (ch08.check_most_attended, lambda m, b, r, c: divmod(int(np.flatnonzero(m[b, r, c] == m[b, r, c].max())[-1]),
                                                         m.shape[-1]), "last-on-tie", "first in reading order"),
    (ch08.check_most_attended, lambda m, b, r, c: divmod(int(m[b, r, c].argmax()), m.shape[-2]),
     "divided-by-height", "width"),
    (ch08.check_gamma_half_step, lambda steps, g: next(s for s, v in zip(steps, g) if v >= g[-1] / 2), "sign", "|gamma|"),
    (ch08.check_gamma_half_step, lambda steps, g: next(i for i, v in enumerate(g) if abs(v) >= abs(g[-1]) / 2),
     "index-not-step", "index"),
    (ch08.check_gamma_half_step, lambda steps, g: next(s for s, v in zip(steps, g) if abs(v) >= max(map(abs, g)) / 2),
     "half-of-peak", "overshoots"),
    (ch08.check_residual_parameters, lambda config: tuple(reversed(ch08._extra(config))), "swapped", "(D, G)"),
    (ch08.check_residual_parameters, lambda config: (sum(ch08._extra(config)), 0), "summed", "together"),
]


@pytest.mark.parametrize("check, answer, mistake, words", MISTAKES,
                         ids=[f"{c.__name__}-{m}-{i}" for i, (c, _, m, _) in enumerate(MISTAKES)])
def test_each_warned_about_mistake_is_named(check, answer, mistake, words):
    result = check(*answer) if isinstance(answer, tuple) else check(answer)
    assert not result.passed and result.mistake == mistake, repr(result)
    assert words in result.message


# --- Bad input: a sentence, never a traceback ------------------------------------------------------

def test_a_function_with_the_wrong_signature_is_a_sentence():
    result = ch01.check_hinge_d_loss(lambda scores: scores.mean())
    assert (result.passed, result.mistake) == (False, "signature")
    assert "calls <lambda>(real_scores, fake_scores), but <lambda>(scores) does not take those 2" in result.message


def test_an_answer_that_raises_is_a_sentence_naming_its_line():
    def my_projection(phi, embedding, y):
        picked = embedding[y]
        return picked @ phi  # [B, C] @ [B, C]: shapes that do not multiply

    result = ch04.check_projection(my_projection)
    assert result.mistake == "exception" and "my_projection(phi, embedding, y) raised RuntimeError" in result.message
    assert "(line" in result.message and "of my_projection)" in result.message and "\n" not in result.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.number)
def test_every_checker_answers_nonsense_and_unanswered_stubs_with_a_sentence(exercise):
    nonsense = exercise.check(*["nonsense"] * len(exercise.answers))
    assert isinstance(nonsense, CheckResult) and not nonsense.passed and nonsense.message
    unanswered = exercise.check(*[...] * len(exercise.answers))
    assert (unanswered.passed, unanswered.mistake) == (False, "unanswered")

    def stub(*args):
        raise NotImplementedError

    assert exercise.check(*[stub] * len(exercise.answers)).mistake in ("unanswered", "not-a-number", "not-a-batch",
                                                                        "not-a-matrix")


# --- Wrong answers that match no named mistake: how far off they are -------------------------------

def test_hinge_checker_rejects_non_tensors():
    result = ch01.check_hinge_d_loss(lambda real, fake: 0.5)
    assert not result.passed and "expected a tensor" in result.message


def test_hinge_by_hand_checker_reports_the_distance():
    assert ch01.check_hinge_by_hand(5 / 3).passed
    result = ch01.check_hinge_by_hand(2.5)
    assert not result.passed and "off by 0.833" in result.message
    assert not ch01.check_hinge_by_hand("about two").passed


def test_half_consistent_checker_rejects_all_real_and_blank_images():
    real, _ = sample_shapes(20, seed=0)
    result = ch00.check_half_consistent(real)
    assert not result.passed and "1.000, not 0.5" in result.message
    blank = real.clone()
    blank[10:] = -1
    result = ch00.check_half_consistent(blank)
    assert result.mistake == "objects-broken" and "lack an object" in result.message
    assert ch00.check_half_consistent(real[:5]).mistake == "not-a-batch"


def test_receptive_field_checker_rejects_near_misses():
    assert ch00.check_receptive_field_layers(6).passed
    assert not ch00.check_receptive_field_layers(7).passed


def test_kid_checker_names_the_biased_estimate_and_its_distance():
    def biased(a, b):  # keeps the diagonal terms: the V-statistic, biased upwards
        d = a.shape[1]
        k = lambda x, y: (x @ y.T / d + 1) ** 3
        return k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()

    result = ch05.check_kid_by_hand(biased)
    assert result.mistake == "biased" and "off by" in result.message


def test_fooled_is_checker_rejects_consistent_and_too_few_images():
    real, _ = sample_shapes(500, seed=3)
    assert "consistency is 1.00" in ch05.check_fooled_is(real).message
    assert not ch05.check_fooled_is(real[:100]).passed


def test_d_step_checker_accepts_one_call_without_a_graph_through_g():
    assert ch06.check_d_step(hand_d_step()).passed


def test_n_dis_checker_wants_both_counts():
    assert ch06.check_n_dis(50, 1600).passed
    assert "real images D sees: 320" in ch06.check_n_dis(50, 320).message
    assert "off by" in ch06.check_n_dis(40, 1600).message


# --- Feedback beyond the named mistakes: an input, partial credit ----------------------------------

def test_a_checker_of_several_cases_gives_partial_credit_and_shows_the_smallest_failing_input():
    def twin(x, y, resolution):  # right at 32x32 only
        return (resolution - x, y) if resolution == 32 else (x, y)

    result = ch00.check_twin_position(twin)
    assert (result.passed, result.cases, result.score) == (False, (3, 5), 0.6)
    assert result.message == "fn(20.25, 40.0, 64) = (20.25, 40.0), expected (43.75, 40.0) (3 of 5 cases passed)"
    assert ch00.check_twin_position(lambda x, y, s: (s - x, y)).score == 1.0


def test_an_unnamed_wrong_answer_shows_its_input_the_expected_and_the_given_output():
    result = ch04.check_projection(lambda phi, embedding, y: phi[:, 0])
    assert "B=1, C=5, 2 classes" in result.message  # the smallest of the three cases
    first = re.search(r"phi=\[([^,\]]*)", result.message)[1]  # phi[0, 0]: what this answer returns for B=1
    assert re.search(r"expected \[-?[0-9.]+\], got \[" + re.escape(first) + r"\] \(0 of 3 cases passed\)$",
                     result.message), result.message
    kid = ch05.check_kid_by_hand(lambda a, b: 6.0)
    assert "MMD^2 for m=8, d=3: 6 is too low" in kid.message and "a=shape (8, 3) [" in kid.message
    assert kid.cases == (0, 3) and kid.score == 0


def test_a_matrix_one_iteration_gets_right_is_told_how_far_it_is_from_half():
    result = ch02.check_bad_start(torch.eye(3))  # sigma_1 = sigma_2: one step is exact from any start
    assert not result.passed and "underestimates sigma by 0.00% on average" in result.message
    assert "sigma_1/sigma_2 = 1" in result.message and "-0.0" not in result.message


def test_an_answer_of_several_numbers_scores_the_share_of_them_that_is_right():
    gib_128 = 1_281_167 * 128 * 128 * 3 / 2**30  # 58.65 GiB: uint8, three channels
    result = ch07.check_store_sizes(gib_128, gib_128, 32)  # the 64x64 store is a quarter of it
    assert (result.passed, result.cases, result.score) == (False, (2, 3), 2 / 3)
    assert result.message == "the store at 64x64 (GiB): 58.65 is too high, off by 44 (tolerance 0.5) (2 of 3 parts right)"
    assert ch07.check_store_sizes(gib_128, gib_128 / 4, 32).passed
    assert ch06.check_n_dis(50, 320).cases == (1, 2)


def test_the_six_checkers_of_several_cases_or_parts_give_partial_credit():
    # 6.1: gradients left to accumulate are right on the first step (none yet), wrong on the second
    result = ch06.check_d_step(hand_d_step(zero_grad=False))
    assert (result.mistake, result.cases, result.score) == ("no-zero-grad", (1, 2), 0.5)
    assert result.message.startswith("step 2: ") and result.message.endswith("(1 of 2 steps right)")
    assert ch06.check_d_step(hand_d_step(fakes="none")).cases == (0, 2)  # wrong from the first step
    # 6.3: copied vectors keep the weight and the unit lengths right, not sigma
    result = ch06.check_ema_of_sn_layer(ema_copying_vectors)
    assert (result.mistake, result.cases) == ("copied-sn-vectors", (2, 3))
    assert ch06.check_ema_of_sn_layer(ema_averaging_vectors).cases == (1, 3)  # lengths and sigma wrong
    # 7.1: right on landscape photos only (the portrait is cut at its top, not its centre)
    def landscape_only(path, resolution):
        from PIL import Image

        with Image.open(path) as image:
            w, h = image.convert("RGB").size
        return squared_photo("corner")(path, resolution) if h > w else ch07.load_square(path, resolution)[0]
    result = ch07.check_load_square(landscape_only)
    assert (result.mistake, result.cases) == ("not-centred", (2, 3)) and "photo1.jpg" in result.message
    # 7.2: a covariance divided by n: n and mu right
    result = ch07.check_streaming_moments(moments(bias=True))
    assert (result.mistake, result.cases) == ("biased", (2, 3)) and "(2 of 3 parts right)" in result.message
    wrong_mean = lambda batches: (lambda n, mu, sigma: (n, mu + 1, sigma))(*moments()(batches))
    result = ch07.check_streaming_moments(wrong_mean)
    assert result.cases == (2, 3) and "mu is off by up to 1 (expected [" in result.message
    # 0.2: every twin agreeing keeps the objects (1 of 2); 5.3: real shapes fool IS, not consistency
    real, _ = sample_shapes(20, seed=0)
    assert ch00.check_half_consistent(real).cases == (1, 2)
    shapes, _ = sample_shapes(500, seed=3)
    result = ch05.check_fooled_is(shapes)
    assert result.cases == (1, 2) and result.message.startswith("consistency is 1.00, not below 0.1")
