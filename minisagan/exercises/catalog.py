"""The book's exercises in order: the checker that grades each and the names a reader's answer defines.

Exercise k of Chapter n is "n.k", as the book numbers it. An assignment notebook
(`minisagan.bookbuild.assignments`) gives each exercise a stub that defines these names (``def
my_twin(...): raise NotImplementedError``, ``layers = ...``) and a cell that calls the checker on
them; the autograder (`grading`) calls the checker on the same names, whatever the cells say. Names
are unique within a chapter and unused by its own code, since one notebook holds the chapter and
all its answers (the grader removes an exercise's names before its answer cell runs, so that a
failed answer is never scored on the chapter's value). tests/test_exercises.py checks this list
against the chapters' solutions and code.

`WRITTEN` holds the part of an exercise answered in words, which a student writes in a cell of its
own and an instructor reads; `LIBRARY` the book's own functions that an answer should not call
(it would pass without doing the exercise): the grader flags an answer cell that names one.
"""

import importlib
from dataclasses import dataclass

# chapter -> its exercises in the book's order: (checker, the names passed to it)
_CHAPTERS = {
    0: [("check_twin_position", "my_twin"), ("check_half_consistent", "batch"),
        ("check_receptive_field_layers", "layers")],
    1: [("check_hinge_d_loss", "my_hinge_d_loss"), ("check_hinge_by_hand", "my_loss_d"),
        ("check_ns_g_loss", "my_ns_g_loss")],
    2: [("check_power_step", "my_power_step"), ("check_bad_start", "bad_W"), ("check_lipschitz_bound", "lipschitz_bound")],
    3: [("check_attention_block", "my_attention_block"), ("check_wrong_axis", "wrong_axis_attention"),
        ("check_attention_macs", "macs")],
    4: [("check_projection", "my_projection"), ("check_gblock_parameters", "gblock_parameters"),
        ("check_attention_memory", "beta_bytes")],
    5: [("check_fid_by_hand", "fid"), ("check_kid_by_hand", "my_kid"), ("check_fooled_is", "fooling")],
    6: [("check_d_step", "my_d_step"), ("check_n_dis", "d_updates real_images"),
        ("check_ema_of_sn_layer", "my_ema_update")],
    7: [("check_load_square", "my_load_square"), ("check_streaming_moments", "my_moments"),
        ("check_store_sizes", "gib_128 gib_64 per_gpu")],
    8: [("check_most_attended", "my_most_attended"), ("check_gamma_half_step", "my_half_step"),
        ("check_residual_parameters", "my_extra_parameters")],
}

WRITTEN = {  # number -> the question to answer in words (the "read by you" column of the instructors' page)
    "0.3": "What does that say about a generator whose layers work at 8x8 and 16x16?",
    "1.2": "Which of the six samples send no gradient to D?",
    "1.3": "Train with loss=\"ns\" and compare the curves with the hinge loss's.",
    "2.2": "Why does a persistent vector make this harmless in training?",
    "2.3": "After spectral normalization of both layers, what is the bound?",
    "3.3": "How does it compare with a 3x3 convolution? Which term grows fastest with the resolution?",
    "4.3": "By what factor is it larger than at 32x32?",
    "5.3": "What does that say about reporting IS alone?",
    "6.2": "What did you measure? Why does TTUR make five D steps unnecessary, and what does it save?",
        "7.1": "Time both on one photo: how much of the difference is the draft?",
    "7.2": "How far off is sigma with float32 sums, and why does the mean's size matter?",
    "8.1": "Where does G look most for the red query of the first image?",
    "8.2": "Which network takes to its block first?",
    "8.3": "How do the two kinds of block compare at 16 in the default model?",
}
LIBRARY = {  # number -> the book's own functions that would do the exercise for the student
    "1.1": ("hinge_d_loss",), "1.2": ("hinge_d_loss",), "1.3": ("ns_g_loss", "ns_d_loss"),
    "2.1": ("power_iteration",), "3.1": ("SelfAttention", "naive_attention", "fused_attention"),
    "6.1": ("d_step",), "6.3": ("GeneratorEMA",), "7.1": ("load_square",),
}


@dataclass(frozen=True)
class Exercise:
    chapter: int
    index: int  # 1, 2, ... within the chapter
    checker: str  # a function of minisagan.exercises.chNN
    answers: tuple[str, ...]  # the names the reader defines, passed to the checker in this order

    @property
    def number(self) -> str:
        return f"{self.chapter}.{self.index}"

    @property
    def call(self) -> str:
        """The checker's call on the answers, as a notebook cell writes it."""
        return f"{self.checker}({', '.join(self.answers)})"

    @property
    def written(self) -> str:
        """The question the student answers in words ("" when the exercise has none)."""
        return WRITTEN.get(self.number, "")

    @property
    def library(self) -> tuple[str, ...]:
        return LIBRARY.get(self.number, ())

    @property
    def module(self) -> str:
        return f"minisagan.exercises.ch{self.chapter:02d}"

    def check(self, *answers):
        """Run the checker (imported fresh from its module, not whatever a notebook bound to its name)."""
        return getattr(importlib.import_module(self.module), self.checker)(*answers)


EXERCISES = tuple(Exercise(chapter, index, checker, tuple(names.split()))
                  for chapter, rows in _CHAPTERS.items() for index, (checker, names) in enumerate(rows, 1))


def chapter_exercises(chapter: int) -> list[Exercise]:
    return [exercise for exercise in EXERCISES if exercise.chapter == chapter]


def exercise(number: str) -> Exercise:
    """The exercise numbered ``"n.k"``; a KeyError that names the known numbers otherwise."""
    for candidate in EXERCISES:
        if candidate.number == number:
            return candidate
    raise KeyError(f"no exercise {number!r}: the book has {', '.join(e.number for e in EXERCISES)}")
