"""The package installs as documented and environment.yml mirrors pyproject.toml."""

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from tests import ROOT


def _requirement_key(req):
    name = re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0]
    return name.strip().lower().replace("_", "-"), req.replace(" ", "")


# Each conda file mirrors one selection of pyproject's extras: the CPU default that `make setup`
# installs, and a GPU variant. Backends are extras, never a requirement of the package itself.
ENVIRONMENTS = {
    "environment.yml": ("tensorflow", "course", "grader", "dev"),
    "environment-gpu.yml": ("jax-cuda", "course", "grader", "dev"),
}
BACKEND_EXTRAS = {"tensorflow", "tensorflow-cuda", "jax", "jax-cuda", "torch"}


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _pyproject_requirements(extras):
    project = _project()
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return dict(_requirement_key(r) for r in reqs)


def _environment(name):
    with open(os.path.join(ROOT, name)) as f:
        return yaml.safe_load(f)


def _environment_requirements(name):
    env = _environment(name)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return dict(_requirement_key(r) for r in pip if not r.startswith("-e"))


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_environment_yml_mirrors_pyproject(name):
    ours, theirs = _pyproject_requirements(ENVIRONMENTS[name]), _environment_requirements(name)
    assert ours == theirs, (
        f"{name} and pyproject.toml's {ENVIRONMENTS[name]} disagree: "
        f"only in pyproject: {sorted(set(ours.items()) - set(theirs.items()))}; "
        f"only in {name}: {sorted(set(theirs.items()) - set(ours.items()))}"
    )


def test_backends_are_extras_only():
    project = _project()
    names = {_requirement_key(r)[0] for r in project["dependencies"]}
    assert "keras" in names
    assert not names & {"tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch"}, names
    extras = project["optional-dependencies"]
    assert BACKEND_EXTRAS <= set(extras), sorted(extras)
    # the non-backend extras pull in no backend either
    for extra, reqs in extras.items():
        if extra not in BACKEND_EXTRAS:
            found = {_requirement_key(r)[0] for r in reqs} & {
                "tensorflow",
                "tensorflow-cpu",
                "jax",
                "torch",
            }
            assert not found, (extra, found)
    # every extra but the other backends is in both conda files
    for name, selection in ENVIRONMENTS.items():
        assert set(extras) - BACKEND_EXTRAS <= set(selection), (name, selection)
        assert len(set(selection) & BACKEND_EXTRAS) == 1, (name, selection)


def test_make_setup_installs_the_cpu_default():
    with open(os.path.join(ROOT, "Makefile")) as f:
        makefile = f.read()
    extras = ",".join(ENVIRONMENTS["environment.yml"])
    assert f'pip install --quiet -e ".[{extras}]"' in makefile


def test_gpu_environment_chooses_its_backend():
    assert _environment("environment-gpu.yml")["variables"]["KERAS_BACKEND"] == "jax"


def test_environment_yml_python_is_supported():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        requires = tomllib.load(f)["project"]["requires-python"]
    env = _environment("environment.yml")
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
