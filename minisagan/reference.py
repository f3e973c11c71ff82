"""Shipped reference results: what longer runs gave, for the chapters to plot beside the reader's run.

Each result is a folder of ``data/reference/`` in the repository (in an installed wheel, of
``minisagan/reference_data/``, where setup.py copies them): CSV files of logged values, small PNGs,
and ``about.json`` (which command made it, on what machine, when, in how long). The chapters
read them with `load` and caption their figures with `about`, so a figure built in the smoke
profile still shows the chapter's point, and says where its numbers come from.
"""

import csv
import json
import math
from pathlib import Path
from statistics import mean, stdev

SHIPPED = Path(__file__).resolve().parent / "reference_data"  # in a wheel
CHECKOUT = Path(__file__).resolve().parents[1] / "data" / "reference"  # in the book's repository
ROOT = SHIPPED if SHIPPED.is_dir() else CHECKOUT


def folder(name: str) -> Path:
    """``data/reference/<name>``; a clear error when this checkout does not have it."""
    path = ROOT / name
    if not path.is_dir():
        raise FileNotFoundError(f"no reference results {name!r} at {path}: a checkout of the book has them in "
                                "data/reference/, a wheel built from it (`make assignments`) in minisagan/reference_data/")
    return path


def read_rows(path: Path) -> list[dict]:
    """A CSV as a list of rows, numbers as floats (empty cells as NaN), other text kept."""
    def value(text: str):
        try:
            return float(text) if text != "" else math.nan
        except ValueError:
            return text

    with open(path, newline="") as handle:
        return [{key: value(text) for key, text in row.items()} for row in csv.DictReader(handle)]


def write_rows(path: Path, rows: list[dict]) -> None:
    columns = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()} for row in rows)


def load(name: str, file: str = "eval.csv") -> list[dict]:
    """The rows of ``data/reference/<name>/<file>``."""
    return read_rows(folder(name) / file)


def about(name: str) -> dict:
    """``about.json`` of a result: command, machine, date, seconds, and what else its maker noted."""
    return json.loads((folder(name) / "about.json").read_text())


def caption(name: str, command: bool = True) -> str:
    """One line for a figure: what the shipped result is, where and when it was made, and by which
    command (``command=False`` leaves the command to the book's appendix on the reference results)."""
    info = about(name)
    made = f"{info['date']}, {info['machine']}" + (f"; `{info['command']}`" if command else "")
    return f"reference: {info['what']} ({made})"


def series(rows: list[dict], key: str, where: dict | None = None, x: str = "step") -> tuple[list, list]:
    """x and ``key`` of the rows matching ``where`` (column -> value), in order of x."""
    chosen = [r for r in rows if all(r.get(k) == v for k, v in (where or {}).items())]
    chosen.sort(key=lambda r: r[x])
    return [r[x] for r in chosen], [r[key] for r in chosen]


def spread(rows: list[dict], key: str, group: str = "arm", over: str = "seed", x: str = "step") -> dict:
    """Per group and x: the mean, min and max of ``key`` over seeds, and how many seeds.

    ``{arm: {"x": [...], "mean": [...], "min": [...], "max": [...], "sd": [...], "n": [...]}}``.
    """
    table: dict = {}
    for row in rows:
        if isinstance(row.get(key), float) and not math.isnan(row[key]):
            table.setdefault(row[group], {}).setdefault(row[x], {})[row[over]] = row[key]
    out = {}
    for name, by_x in table.items():
        xs = sorted(by_x)
        values = [list(by_x[v].values()) for v in xs]
        out[name] = {"x": xs, "mean": [mean(v) for v in values], "min": [min(v) for v in values],
                     "max": [max(v) for v in values], "sd": [stdev(v) if len(v) > 1 else 0.0 for v in values],
                     "n": [len(v) for v in values]}
    return out


def final(rows: list[dict], key: str, group: str = "arm", over: str = "seed", x: str = "step") -> dict:
    """Per group: the last logged value of ``key`` of each seed, ``{arm: {seed: value}}``."""
    last: dict = {}
    for row in rows:
        slot = last.setdefault(row[group], {})
        if row[over] not in slot or row[x] >= slot[row[over]][0]:
            slot[row[over]] = (row[x], row[key])
    return {name: {seed: value for seed, (_, value) in seeds.items()} for name, seeds in last.items()}
