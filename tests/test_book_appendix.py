"""The appendix "How the reference results were made" keeps up with data/reference/: it names every
shipped result, and the command, date and thread count each result's own files record. Reads the
markdown and the shipped files; builds no book."""

import csv
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPENDIX = ROOT / "book" / "appendix_reference_results.md"
REFERENCE = ROOT / "data" / "reference"


def appendix() -> str:
    return APPENDIX.read_text()


def summary_rows() -> dict[str, list[str]]:
    """The summary table's rows by result name: result -> its cells."""
    rows = {}
    for line in appendix().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`([^`]+?)/?`", cells[0]) if len(cells) == 7 else None
        if name:
            rows[name[1]] = cells
    return rows


def shipped() -> list[str]:
    return sorted(path.name for path in REFERENCE.iterdir() if not path.name.startswith("."))


def test_the_appendix_has_a_label_and_sits_in_the_table_of_contents():
    assert appendix().startswith("(appendix-reference-results)=\n# How the reference results were made")
    assert "book/appendix_reference_results" in (ROOT / "_toc.yml").read_text()


def test_every_shipped_result_has_a_row_of_the_summary():
    assert sorted(summary_rows()) == shipped()


@pytest.mark.parametrize("name", [p.parent.name for p in sorted(REFERENCE.glob("*/about.json"))])
def test_a_result_with_about_json_shows_its_command_date_and_threads(name):
    info = json.loads((REFERENCE / name / "about.json").read_text())
    cells = summary_rows()[name]
    assert f"`{info['command']}`" == cells[2]
    assert cells[5].startswith(info["date"]) and cells[4] == str(info["threads"])
    assert f"({info['seconds']} s)" in cells[6]


@pytest.mark.parametrize("name", [p.parent.name for p in sorted(REFERENCE.glob("*/runs.csv"))])
def test_a_sweep_shows_its_first_start_last_end_and_threads(name):
    with open(REFERENCE / name / "runs.csv", newline="") as handle:
        runs = [row for row in csv.DictReader(handle) if row["started"]]
    cells = summary_rows()[name]
    # a start that was stopped has no end (its note says so); the run's last start has one
    assert all(r["finished"] or r.get("note") for r in runs)
    first, last = min(r["started"] for r in runs), max(r["finished"] for r in runs if r["finished"])
    assert first[:10] in cells[5] and first[11:] in cells[5] and last[11:] in cells[5]
    threads = {r["threads"] for r in runs}
    assert threads == {"1"} and cells[4].startswith("1")
    assert f"--studies {runs[0]['study']}" in cells[2]


def test_the_book_names_no_benchmark_script_outside_the_appendix_and_the_imagenet_chapter():
    """Chapters say what a result shows; the appendix says which script made it."""
    pages = [p for p in sorted((ROOT / "book").glob("*.md"))
             if p.name not in (APPENDIX.name, "contributing.md", "07_imagenet.md")]
    named = {p.name: re.findall(r"benchmarks/\w+\.(?:py|sh)", p.read_text()) for p in pages}
    assert {page: scripts for page, scripts in named.items() if scripts} == {}
