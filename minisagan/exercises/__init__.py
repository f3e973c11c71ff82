"""Checkers for the book's exercises: each says whether an answer is right and, if not, what is wrong.

Every checker returns a `CheckResult`, which a notebook shows as one line ("Correct: ..." or
"Not yet: ..."). A wrong answer that matches a mistake its chapter warns about (a softmax over the
wrong axis, a sum instead of a mean, two calls of D, ...) is named in `CheckResult.mistake`; a
function with the wrong signature, an answer that raises, or one still left as ``...`` gets a
sentence, never a traceback. `catalog` lists the exercises, `grading` runs a student's notebook
and scores it (``minisagan grade``). Tests run each chapter's solutions through its checkers and
feed every named mistake to them.
"""

import functools
import inspect
import math
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import torch

UNANSWERED = "replace the `...` (or the `raise NotImplementedError`) with your answer"
_LIBRARIES = (str(Path(__file__).resolve().parents[1]), "site-packages", "dist-packages", str(Path(inspect.__file__).parent))


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    message: str
    mistake: str = ""  # the name of a recognized mistake ("softmax-axis", "unanswered", ...), or ""

    def __repr__(self) -> str:
        return ("Correct: " if self.passed else "Not yet: ") + self.message

    def __bool__(self) -> bool:
        return self.passed


class _Verdict(Exception):
    """Ends a check early with its result (raised by `fail`, caught by `checker`)."""

    def __init__(self, result: CheckResult):
        super().__init__(result.message)
        self.result = result


def fail(message: str, mistake: str = "") -> NoReturn:
    raise _Verdict(CheckResult(False, message, mistake))


def describe(error: BaseException) -> str:
    """``TypeError: message (line 3 of my_fn)``: the error's first line and the reader's line that raised it."""
    text = (str(error).strip().splitlines() or [""])[0]
    text = f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(_LIBRARIES[0])
              and not any(part in f.filename for part in _LIBRARIES[1:])]
    return f"{text} (line {frames[-1].lineno} of {frames[-1].name})" if frames else text


def checker(check):
    """Make ``check`` answer every input with a `CheckResult`: ``...`` is unanswered, an error a sentence."""
    @functools.wraps(check)
    def checked(*answers, **named) -> CheckResult:
        if any(answer is Ellipsis for answer in (*answers, *named.values())):
            return CheckResult(False, UNANSWERED, "unanswered")
        try:
            return check(*answers, **named)
        except _Verdict as verdict:
            return verdict.result
        except NotImplementedError:
            return CheckResult(False, UNANSWERED, "unanswered")
        except Exception as error:  # the reader's answer broke the check in a way no test foresaw: say how
            return CheckResult(False, f"your answer could not be checked: {describe(error)}", "exception")
    return checked


def call(fn, *args, form: str):
    """``fn(*args)``, or end the check with a sentence: not a function, a wrong signature, an error.

    form: how the checker calls it, e.g. ``"(real_scores, fake_scores)"``.
    """
    if fn is Ellipsis:
        fail(UNANSWERED, "unanswered")
    name = getattr(fn, "__name__", "your function")
    if not callable(fn):
        fail(f"expected a function to call as fn{form}, got {type(fn).__name__}", "not-a-function")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some built-ins have none: let the call say
        signature = None
    if signature is not None:
        try:
            signature.bind(*args)
        except TypeError:
            fail(f"the checker calls {name}{form}, but {name}{signature} does not take those "
                 f"{len(args)} arguments", "signature")
    try:
        return fn(*args)
    except NotImplementedError:
        fail(UNANSWERED, "unanswered")
    except Exception as error:
        fail(f"{name}{form} raised {describe(error)}", "exception")


def _close(answer, value, tol: float) -> bool:
    if isinstance(value, torch.Tensor):
        return (isinstance(answer, torch.Tensor) and answer.shape == value.shape
                and bool(((answer.detach().double() - value.double()).abs() <= tol).all()))
    try:
        return abs(float(answer) - value) <= tol
    except (TypeError, ValueError):
        return False


def name_mistake(answer, mistakes, tol: float) -> None:
    """Fail naming the first ``(name, value, sentence)`` of ``mistakes`` that ``answer`` matches."""
    for name, value, sentence in mistakes:
        if _close(answer, value, tol):
            fail(sentence, name)


def compare_tensors(answer, expected: torch.Tensor, *, tol: float, case: str) -> CheckResult | None:
    """None when ``answer`` matches ``expected`` within ``tol``; else a failing result that says how."""
    if not isinstance(answer, torch.Tensor):
        return CheckResult(False, f"{case}: expected a tensor, got {type(answer).__name__}", "not-a-tensor")
    if answer.shape != expected.shape:
        return CheckResult(False, f"{case}: shape {tuple(answer.shape)}, expected {tuple(expected.shape)}", "shape")
    answer = answer.detach().double()
    if not torch.isfinite(answer).all():
        return CheckResult(False, f"{case}: the answer holds inf or nan where the reference is {expected.tolist()}",
                           "not-finite")
    error = (answer - expected.double()).abs().max().item()
    if error > tol:
        return CheckResult(False, f"{case}: off by {error:.3g} (tolerance {tol:g})")
    return None


def expect_tensor(answer, expected: torch.Tensor, *, tol: float, case: str, mistakes=()) -> None:
    """Fail unless ``answer`` matches ``expected``; a match with one of ``mistakes`` names it."""
    failure = compare_tensors(answer, expected, tol=tol, case=case)
    if failure is not None:
        name_mistake(answer, mistakes, tol)
        raise _Verdict(failure)


def check_number(answer, expected: float, *, tol: float, what: str, mistakes=()) -> CheckResult:
    """Compare a number worked out by hand with the expected value (``mistakes``: see `name_mistake`)."""
    if answer is Ellipsis:
        return CheckResult(False, UNANSWERED, "unanswered")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return CheckResult(False, f"{what}: expected a number, got {answer!r}", "not-a-number")
    if math.isfinite(value) and abs(value - expected) <= tol:
        return CheckResult(True, f"{what} = {expected:.4g}")
    for name, wrong, sentence in mistakes:
        if abs(value - wrong) <= tol:
            return CheckResult(False, f"{what}: {value:.4g}: {sentence}", name)
    return CheckResult(False, f"{what}: {value:.4g} is off by {abs(value - expected):.3g} (tolerance {tol:g})")
