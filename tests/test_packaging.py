"""pyproject.toml and environment.yml name the same packages at the same versions."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pinned(requirements) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", requirement.strip())
        assert match, f"{requirement!r} is not pinned with =="
        pins[match[1].lower()] = match[2]
    return pins


def test_environment_yml_and_pyproject_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    from_pyproject = pinned(project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra])
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    from_environment = pinned(r for r in pip_section if not r.startswith("-e"))
    assert from_environment == from_pyproject
    assert "python=3.11" in environment["dependencies"]


def test_torch_is_pinned_to_the_local_builds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = pinned(project["dependencies"])
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"


def test_ci_runs_the_readme_test_command():
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make train" in readme
    assert re.search(r"^make test$", ci, re.MULTILINE)
