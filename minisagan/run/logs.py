"""The run folder's two logs: ``metrics.csv`` (one row every ``log_every`` steps) and ``eval.csv``
(one row per evaluation), append-only CSV files with a fixed header.

metrics.csv's columns: `STEP_COLUMNS`, then gamma of every attention block of G and D
(``gamma_G.<module>``), then images per second of training time. eval.csv's columns are
`minisagan.run.evaluation.EVAL_COLUMNS`. Resuming drops the rows an interrupted run logged after its
last checkpoint, so the resumed run rewrites them.
"""

import csv
import io
import math
from pathlib import Path

from ..checkpoint import write_text_atomically

STEP_COLUMNS = ["step", "seconds", "loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"]


def step_columns(gamma_names: list[str]) -> list[str]:
    """metrics.csv's header: the fixed columns, one column per attention gamma, images per second."""
    return STEP_COLUMNS + list(gamma_names) + ["images_per_s"]


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
