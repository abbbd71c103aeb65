"""The lock file, environment.yml and pyproject.toml name the same packages and versions."""

import re
import tomllib

import yaml

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_norm(name)] = version
    return pins


#: conda-forge names that differ from the PyPI ones
CONDA_NAMES = {"python-build": "build"}


def _env():
    doc = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in doc["channels"]
    pins = {}
    for dep in doc["dependencies"]:
        if isinstance(dep, str) and "==" in dep:
            name, version = dep.split("==")
            name = CONDA_NAMES.get(_norm(name), name)
            pins[_norm(name)] = version
    return pins


def test_environment_yml_agrees_with_lock():
    lock, env = _lock(), _env()
    assert env, "environment.yml pins nothing"
    mismatched = {k: (v, lock.get(k)) for k, v in env.items() if lock.get(k) != v}
    assert not mismatched, f"environment.yml vs requirements.lock: {mismatched}"


def test_every_declared_dependency_is_pinned_in_both():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [
        _norm(re.split(r"[<>=!~ \[]", d)[0])
        for d in deps["dependencies"] + deps["optional-dependencies"]["test"] + deps["optional-dependencies"]["docs"]
    ]
    lock, env = _lock(), _env()
    assert not [n for n in names if n not in lock], "declared but not locked"
    assert not [n for n in names if n not in env], "declared but not in environment.yml"
