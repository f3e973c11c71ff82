"""The package's layout keeps its promises: the library imports none of the book's build tools, no
generated module reaches up into the run application, every folder says what lives in it, modules
stay small, and the training and model configurations share one vocabulary."""

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from minisagan.bookbuild.mirror import HEADER_PREFIX
from minisagan.errors import ConfigError
from minisagan.run.config import MODEL_KEYS, TrainConfig
from minisagan.sagan import SAGANConfig

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "minisagan"


def generated_modules() -> list[str]:
    return sorted(path.stem for path in PACKAGE.glob("*.py") if path.read_text().startswith(HEADER_PREFIX))


def test_there_are_generated_modules_to_check():
    assert {"losses", "spectral_norm", "attention", "sagan", "metrics", "training"} <= set(generated_modules())


def test_importing_the_library_loads_neither_jupytext_nor_sphinx():
    imports = "; ".join(f"import minisagan.{name}" for name in generated_modules())
    code = (f"import sys, minisagan, minisagan.data, minisagan.figures, minisagan.profiles; {imports}; "
            "import minisagan.run.loop, minisagan.run.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('jupytext', 'sphinx', "
            "'sphinx_exercise', 'nbformat', 'myst_nb')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", generated_modules())
def test_no_generated_module_imports_the_run_application_or_the_build_tools(name):
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [m for m in imported if m.startswith(("minisagan.run", "minisagan.bookbuild"))]


def test_every_folder_of_the_package_says_what_lives_there():
    for init in PACKAGE.rglob("__init__.py"):
        docstring = ast.get_docstring(ast.parse(init.read_text()))
        assert docstring and len(docstring) > 40, init.relative_to(ROOT)


def test_hand_written_modules_stay_small():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")
             if not path.read_text().startswith(HEADER_PREFIX)}
    assert {path: n for path, n in sizes.items() if n > 300} == {}


def test_model_keys_are_the_model_configurations_fields():
    fields = {f.name for f in dataclasses.fields(SAGANConfig)}
    assert set(MODEL_KEYS) == fields - {"num_classes", "init"}  # classes come from the data; init is fixed
    assert set(MODEL_KEYS) <= set(TrainConfig.keys())
    for key in MODEL_KEYS:  # and they mean the same: 0 is "no attention" in both
        assert getattr(TrainConfig.for_profile("cpu").sagan_config(10), key) == getattr(TrainConfig.for_profile("cpu"), key)


@pytest.mark.parametrize("key, value", [("width", 12), ("attention", 64), ("resolution", 48), ("z_dim", 0)])
def test_model_errors_read_the_same_from_either_configuration(key, value):
    values = dict(resolution=32, width=8, z_dim=16, attention=16)
    with pytest.raises(ConfigError) as from_model:
        SAGANConfig(num_classes=10, **{**values, key: value})
    with pytest.raises(ConfigError) as from_training:
        TrainConfig.for_profile("smoke", **{**values, key: value})
    assert str(from_model.value) == str(from_training.value)
    assert str(from_model.value).startswith(f"config key {key!r}:")
