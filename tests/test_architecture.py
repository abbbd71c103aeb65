"""Guards that keep the layers: lint, formatting, import layers, no private names across modules,
module size. They run in `make test` like every other test."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "painstudy"
BIN = Path(sys.executable).parent
#: modules allowed past ~700 lines because they are one numerical routine (reason beside each)
LONG_MODULES: dict[str, str] = {}


def _modules():
    """(path, dotted module name, dotted package the module's relative imports start from)."""
    for p in sorted(PKG.rglob("*.py")):
        parts = p.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            yield p, ".".join(parts[:-1]), ".".join(parts[:-1])
        else:
            yield p, ".".join(parts), ".".join(parts[:-1])


def _tool(name: str) -> str:
    exe = BIN / name
    if not exe.exists():
        found = shutil.which(name)
        if not found:
            pytest.fail(f"{name} is not installed (it is in requirements.lock: run make setup)")
        return found
    return str(exe)


def test_ruff_lint():
    res = subprocess.run(
        [_tool("ruff"), "check", "painstudy", "tests", "tools", "benchmarks"], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_ruff_format():
    res = subprocess.run(
        [_tool("ruff"), "format", "--check", "painstudy", "tests", "tools", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, "run `ruff format`: " + res.stdout[-3000:]


def test_import_layers():
    res = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]


def _resolve(package: str, node: ast.ImportFrom) -> str:
    """The absolute name of the module an ``import from`` reads."""
    if node.level == 0:
        return node.module or ""
    base = package.split(".")
    parent = base[: len(base) - (node.level - 1)]
    return ".".join(parent + ([node.module] if node.module else []))


def test_no_private_name_crosses_a_module():
    """A name starting with one underscore is used only in the module that defines it."""
    bad = []
    for path, _module, package in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                src = _resolve(package, node)
                if not src.startswith("painstudy"):
                    continue
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {a.name} from {src}")
                    else:
                        aliases[a.asname or a.name] = f"{src}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("painstudy"):
                        aliases[a.asname or a.name.split(".")[0]] = a.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: uses {node.value.id}.{node.attr}")
    assert not bad, "\n".join(bad)


def test_modules_stay_readable():
    long = []
    for path, module, _package in _modules():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > 750 and module not in LONG_MODULES:
            long.append(f"{module}: {n} lines")
    assert not long, "split these modules (or list them with a reason): " + "; ".join(long)


def test_every_result_renders_through_one_rule():
    """Every public result class derives from painstudy.rendering.Rendered and does not define its
    own __repr__/__str__/_repr_html_."""
    import importlib
    import inspect

    from painstudy.rendering import Rendered

    offenders = []
    for _path, module, _package in _modules():
        if ".cli" in module or module.endswith(("rendering", "__main__")) or ".notebooks" in module:
            continue
        mod = importlib.import_module(module)
        for name, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ != module or name.startswith("_"):
                continue
            if issubclass(cls, Rendered):
                own = [m for m in ("__repr__", "__str__", "_repr_html_") if m in cls.__dict__]
                if own:
                    offenders.append(f"{module}.{name} defines {own}")
    assert not offenders, "\n".join(offenders)
