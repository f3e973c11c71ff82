"""Checkers for the book's exercises: each says whether an answer is right and, if not, what is wrong.

Every checker returns a `CheckResult`, which a notebook shows as one line ("Correct: ..." or
"Not yet: ..."). A wrong answer that matches a mistake its chapter warns about (a softmax over the
wrong axis, a sum instead of a mean, two calls of D, ...) is named in `CheckResult.mistake`; a
function with the wrong signature, an answer that raises, or one still left as ``...`` gets a
sentence, never a traceback. `catalog` lists the exercises, `grading` runs a student's notebook
and scores it (``minisagan grade``). Tests run each chapter's solutions through its checkers and
feed every named mistake to them.
"""

import contextvars
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
    cases: tuple[int, int] | None = None  # (passed, tried) where a checker tries several cases: partial credit

    @property
    def score(self) -> float:
        """1 when it passed, else the share of the cases passed (0 for a checker of one case)."""
        if self.passed:
            return 1.0
        return self.cases[0] / self.cases[1] if self.cases and self.cases[1] else 0.0

    def __repr__(self) -> str:
        return ("Correct: " if self.passed else "Not yet: ") + self.message

    def __bool__(self) -> bool:
        return self.passed


class _Verdict(Exception):
    """Ends a check early with its result (raised by `fail`, caught by `checker`)."""

    def __init__(self, result: CheckResult):
        super().__init__(result.message)
        self.result = result


_CALLED = contextvars.ContextVar("minisagan_called", default=None)  # the last `call`: (form, arguments)


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
        token = _CALLED.set(None)
        try:
            return check(*answers, **named)
        except _Verdict as verdict:
            return verdict.result
        except NotImplementedError:
            return CheckResult(False, UNANSWERED, "unanswered")
        except Exception as error:  # the reader's answer broke the check in a way no test foresaw: say how
            return CheckResult(False, f"your answer could not be checked: {describe(error)}", "exception")
        finally:
            _CALLED.reset(token)
    return checked


_WHOLE = ("unanswered", "signature", "not-a-function")  # failures every case or part would share


def each_case(cases, check_one, what: str) -> CheckResult:
    """Run ``check_one(case)`` on every case (it ends with `fail` or returns); the first failure of the
    smallest input, or a pass, with (passed, tried) for partial credit. A failure every case would
    share (unanswered, a wrong signature) ends the check at once. ``what``: the passing sentence."""
    cases, failures = list(cases), []
    for case in cases:
        try:
            check_one(case)
        except _Verdict as verdict:
            if verdict.result.mistake in _WHOLE:
                raise
            failures.append((_size(case), len(failures), verdict.result))
    if not failures:
        return CheckResult(True, what, cases=(len(cases), len(cases)))
    first = min(failures, key=lambda f: f[:2])[2]
    passed = len(cases) - len(failures)
    return CheckResult(False, f"{first.message} ({passed} of {len(cases)} cases passed)", first.mistake,
                       (passed, len(cases)))


def each_step(steps: int, check_one, what: str) -> CheckResult:
    """Run ``check_one(i)`` for i in 0 .. steps - 1 in turn (each step starts from the state the last
    one left, so the first failure ends the check); the failure with (steps right, steps) for partial
    credit, or a pass."""
    for i in range(steps):
        try:
            check_one(i)
        except _Verdict as verdict:
            if verdict.result.mistake in _WHOLE:
                raise
            result = verdict.result
            return CheckResult(False, f"{result.message} ({i} of {steps} steps right)", result.mistake, (i, steps))
    return CheckResult(True, what, cases=(steps, steps))


def as_part(check_one, *args, said: str, **named) -> CheckResult:
    """``check_one(*args, **named)`` (which ends with `fail` or returns) as one part for `all_parts`:
    its failure, or a pass that says ``said``."""
    try:
        check_one(*args, **named)
    except _Verdict as verdict:
        if verdict.result.mistake in _WHOLE:
            raise
        return verdict.result
    return CheckResult(True, said)


def part(right: bool, said: str, wrong: str, mistake: str = "") -> CheckResult:
    """One part of an answer for `all_parts`: ``said`` when ``right``, else ``wrong`` (and its mistake)."""
    return CheckResult(True, said) if right else CheckResult(False, wrong, mistake)


def all_parts(results: list[CheckResult], said: str = "") -> CheckResult:
    """An answer of several parts (numbers worked out one by one): right when every part is (``said``,
    else every part's sentence), else the first wrong part's result with (parts right, parts)."""
    wrong = [result for result in results if not result.passed]
    cases = (len(results) - len(wrong), len(results))
    if not wrong:
        return CheckResult(True, said or "; ".join(result.message for result in results), cases=cases)
    return CheckResult(False, f"{wrong[0].message} ({cases[0]} of {cases[1]} parts right)", wrong[0].mistake, cases)


def _size(case) -> int:
    """How many numbers a case's input holds (tensors and arrays; 0 for anything else)."""
    items = case if isinstance(case, (tuple, list)) else (case,)
    return sum(item.numel() if isinstance(item, torch.Tensor) else getattr(item, "size", 0)
               if isinstance(getattr(item, "size", 0), int) else 0 for item in items)


def shown(value, most: int = 6) -> str:
    """A value in a few characters: a short tensor in full, a long one as its shape and first values."""
    if isinstance(value, torch.Tensor) or hasattr(value, "shape") and hasattr(value, "tolist"):  # NumPy's too
        array = value.detach() if isinstance(value, torch.Tensor) else value
        flat = array.reshape(-1).tolist()
        text = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in flat[:most])
        if len(value.shape) == 0:
            return text
        return f"[{text}]" if len(flat) <= most else f"shape {tuple(value.shape)} [{text}, ...]"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(shown(v, most) for v in value) + ")"
    text = repr(value)
    if "\n" in text:  # a module, a model: its name says enough
        return f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def example(answer, expected) -> str:
    """``on fn(real_scores=[...], ...) expected ..., got ...``: the last call a checker made, for a
    wrong answer no named mistake explains (empty when the checker made no call)."""
    called = _CALLED.get()
    if called is None:
        return ""
    form, args = called
    names = [name.strip() for name in form.strip("()").split(",")]
    inputs = ", ".join(f"{n}={shown(a)}" if n else shown(a) for n, a in zip(names, args))
    return f"; on ({inputs}) expected {shown(expected)}, got {shown(answer)}"


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
    _CALLED.set((form, args))
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
        return CheckResult(False, f"{case}: shape {tuple(answer.shape)}, expected {tuple(expected.shape)}"
                                  f"{example(answer, expected)}", "shape")
    answer = answer.detach().double()
    if not torch.isfinite(answer).all():
        return CheckResult(False, f"{case}: the answer holds inf or nan where the reference is {expected.tolist()}",
                           "not-finite")
    error = (answer - expected.double()).abs().max().item()
    if error > tol:
        return CheckResult(False, f"{case}: off by {error:.3g} (tolerance {tol:g}){example(answer, expected)}")
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
    side = "too high" if value > expected else "too low"
    return CheckResult(False, f"{what}: {value:.4g} is {side}, off by {abs(value - expected):.3g} (tolerance {tol:g})"
                              f"{example(value, expected)}")
