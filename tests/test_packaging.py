"""The package installs as documented and environment.yml mirrors pyproject.toml."""

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib

import pytest
import yaml
from conftest import ROOT


def _requirement_key(req):
    name = re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0]
    return name.strip().lower().replace("_", "-"), req.replace(" ", "")


def _pyproject_requirements():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return dict(_requirement_key(r) for r in reqs)


def _environment_requirements():
    with open(os.path.join(ROOT, "environment.yml")) as f:
        env = yaml.safe_load(f)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return dict(_requirement_key(r) for r in pip if not r.startswith("-e"))


def test_environment_yml_mirrors_pyproject():
    ours, theirs = _pyproject_requirements(), _environment_requirements()
    assert ours == theirs, (
        "environment.yml and pyproject.toml disagree: "
        f"only in pyproject: {sorted(set(ours.items()) - set(theirs.items()))}; "
        f"only in environment.yml: {sorted(set(theirs.items()) - set(ours.items()))}"
    )


def test_environment_yml_python_is_supported():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        requires = tomllib.load(f)["project"]["requires-python"]
    with open(os.path.join(ROOT, "environment.yml")) as f:
        env = yaml.safe_load(f)
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minimum = tuple(int(p) for p in requires.lstrip(">=").split("."))
    assert tuple(int(p) for p in python.split("=")[1].split(".")) >= minimum


def test_import_loads_no_backend():
    # aekeras/__init__.py promises that `import aekeras` stays fast: submodules load on use.
    code = "import sys, aekeras; print(sorted({'keras', 'tensorflow', 'torch', 'jax'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]", result.stdout


def test_public_names_resolve_and_are_documented():
    import aekeras

    assert aekeras.__version__ == importlib.metadata.version("aekeras")  # pyproject agrees
    for module_name in aekeras.__all__:
        module = getattr(aekeras, module_name)  # the lazy import works for each submodule
        assert module.__doc__, f"aekeras.{module_name} has no module docstring"
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            assert obj is not None, f"aekeras.{module_name}.__all__ names a missing {name!r}"
            if callable(obj):
                assert obj.__doc__ and obj.__doc__.strip(), f"{module_name}.{name} is undocumented"
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        aekeras.nonexistent  # noqa: B018


def test_nbgrader_config_points_at_the_layout():
    from traitlets.config import Config, PyFileConfigLoader

    loader = PyFileConfigLoader("nbgrader_config.py", path=ROOT)
    config = loader.load_config()
    assert isinstance(config, Config)
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "exercises"
    assert config.OverwriteCells.add_missing_cells is True
