"""Packaging and set-up: fast import, environment.yml in sync, Makefile/CI/README contracts."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[\[<>=!~ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_top_level_layout():
    expected = {"notebooks", "course_utils", "images", "exercises", "solutions", "tests", "benchmarks",
                "tools", "environment.yml", "pyproject.toml", "README.md", "Makefile", "LICENSE",
                "CONTRIBUTING.md"}
    assert expected <= {p.name for p in ROOT.iterdir()}
    assert (ROOT / ".ci" / "run").exists()
    assert "Apache License" in (ROOT / "LICENSE").read_text()


def test_import_is_fast_and_lazy():
    code = ("import time, sys; t = time.perf_counter(); import course_utils, course_utils.models, "
            "course_utils.parsing, course_utils.prompts, course_utils.checks; "
            "print(time.perf_counter() - t); "
            "print(sorted(m for m in ('torch', 'transformers', 'distilabel') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[1] == "[]", f"heavy modules imported eagerly: {out[1]}"
    assert float(out[0]) < 1.0


def test_wheel_ships_the_course_package_but_not_the_maintainer_tools(tmp_path):
    """tools/ (notebook and figure tooling) stays in the repository; learners get course_utils."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("course_utils", "tools"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "--disable-pip-version-check", "-w", str(tmp_path / "whl"), str(src)],
                   check=True, capture_output=True, text=True)
    (wheel,) = (tmp_path / "whl").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "course_utils/__init__.py" in names and "course_utils/doctor.py" in names
    assert "course_utils/tiny.py" in names
    assert not [n for n in names if n.startswith("tools/")], names
    assert not [n for n in names if n.rsplit("/", 1)[-1] in ("notebooks.py", "figures.py")], names


def test_environment_yml_matches_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    in_env = conda | {_name(p) for p in pip}
    conda_aliases = {"pytorch": "torch"}
    in_env |= {conda_aliases[c] for c in conda if c in conda_aliases}
    missing = {_name(d) for d in deps} - in_env - {"jupyterlab", "nbval"}
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"
    assert "-e ." in pip
    deps_block = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    for line in deps_block.splitlines():
        if re.match(r"\s+- (?!pip$|python=)", line) and "- pip:" not in line:
            assert "#" in line, f"environment.yml line without a comment saying who needs it: {line!r}"


def test_pyproject_pins():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    joined = " ".join(deps)
    assert "distilabel[hf-transformers]==1.5.3" in joined
    assert "requests" in joined and "pillow" in joined
    assert not any(_name(d) == "torch" for d in deps), "torch must not be a direct pin (Colab ships its own)"


def test_makefile_ci_and_readme_agree():
    make = (ROOT / "Makefile").read_text()
    for target in ("run:", "test:", "lab:", "bench:", "notebooks:", "exercises:", "images:"):
        assert target in make
    assert "tools/notebooks.py exercises" in make and "tools/figures.py images" in make
    assert "course_utils.notebooks" not in make and "course_utils.figures" not in make
    assert "torch==2.13.0" in make
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
