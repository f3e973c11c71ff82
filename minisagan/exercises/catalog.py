"""The book's exercises in order: the checker that grades each and the names a reader's answer defines.

Exercise k of Chapter n is "n.k", as the book numbers it. An assignment notebook
(`minisagan.bookbuild.assignments`) gives each exercise a stub that defines these names (``def
my_twin(...): raise NotImplementedError``, ``layers = ...``) and a cell that calls the checker on
them; the autograder (`grading`) calls the checker on the same names, whatever the cells say. Names
are unique within a chapter, since one notebook holds all its answers. tests/test_exercises.py
checks this list against the chapters' solutions.
"""

import importlib
from dataclasses import dataclass

# chapter -> its exercises in the book's order: (checker, the names passed to it)
_CHAPTERS = {
    0: [("check_twin_position", "my_twin"), ("check_half_consistent", "batch"),
        ("check_receptive_field_layers", "layers")],
    1: [("check_hinge_d_loss", "my_hinge_d_loss"), ("check_hinge_by_hand", "loss_d"),
        ("check_ns_g_loss", "my_ns_g_loss")],
    2: [("check_power_step", "my_power_step"), ("check_bad_start", "W"), ("check_lipschitz_bound", "lipschitz_bound")],
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
