"""The run folder's two logs: ``metrics.csv`` (one row every ``log_every`` steps) and ``eval.csv``
(one row per evaluation), append-only CSV files with a fixed header.

`STEP_METRICS` is the one list of the values the training steps return
(`minisagan.training.d_step` and `g_step`): each has its metrics.csv column and the panel of
curves.png that plots it. Adding a per-step metric means returning it from a step and naming it
there; a value the list does not name stops the run at its first log, never silently dropped.
metrics.csv's columns: step and seconds, `STEP_METRICS`, gamma of every attention block of G and D
(``gamma_G.<module>``), images per second of training time. eval.csv's columns are
`minisagan.run.evaluation.EVAL_COLUMNS`, from its list `EVAL_METRICS`. Resuming drops the rows an interrupted run logged after its
last checkpoint, so the resumed run rewrites them.
"""

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import write_text_atomically



@dataclass(frozen=True)
class Metric:
    column: str  # the CSV's column
    panel: str | None  # the title of curves.png's panel that plots it (None: only in the CSV)


STEP_METRICS = [
    Metric("loss_d", "losses"),
    Metric("loss_g", "losses"),
    Metric("d_real", "D's mean score"),
    Metric("d_fake", "D's mean score"),
    Metric("grad_norm_d", "gradient norms"),
    Metric("grad_norm_g", "gradient norms"),
]
GAMMA_PANEL = "gamma of each attention block"  # the gamma_* columns, one per attention block


def step_columns(gamma_names: list[str]) -> list[str]:
    """metrics.csv's header: step and seconds, `STEP_METRICS`, one column per attention gamma,
    images per second."""
    return ["step", "seconds", *(metric.column for metric in STEP_METRICS), *gamma_names, "images_per_s"]


def read_log(path: Path) -> dict[str, list[float]]:
    """A run's metrics.csv or eval.csv as columns of floats (empty cells: NaN)."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames or []
    return {key: [float(row[key]) if row[key] != "" else math.nan for row in rows] for key in columns}


class CsvLog:
    """An append-only CSV with a fixed header; rows after a checkpoint can be dropped on resume."""

    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = path, columns

    def start(self) -> None:
        with open(self.path, "w", newline="") as handle:
            csv.writer(handle).writerow(self.columns)

    def append(self, row: dict) -> None:
        unknown = [key for key in row if key not in self.columns]
        if unknown:  # a value nobody listed would be lost
            raise ValueError(f"{self.path.name} has no column {unknown[0]!r}: name it in the list of "
                             "its metrics (minisagan.run.logs.STEP_METRICS, or EVAL_METRICS)")
        with open(self.path, "a", newline="") as handle:
            csv.writer(handle).writerow([_format(row.get(key, "")) for key in self.columns])

    def truncate(self, last_step: int) -> None:
        """Keep the rows up to ``last_step``: later ones belong to the interrupted run. The file is
        rewritten atomically, so a kill meanwhile leaves the old one whole."""
        if not self.path.exists():
            return self.start()
        with open(self.path, newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if int(row["step"]) <= last_step]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=self.columns)
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomically(self.path, text.getvalue())


def _format(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
