"""Notebook parameters are values, never code.

A report notebook declares its parameters in the cell tagged ``parameters``: one annotated
assignment per line (``seed: int = 20261126``). :func:`notebook_parameters` reads that cell
(with :mod:`ast`, nothing is executed); :func:`check_parameters` accepts only declared names and
values of the declared type (built from YAML scalars, lists and mappings); :func:`inject` writes
them into a new cell as Python literals (``repr`` of plain values, verified with
:func:`ast.literal_eval`), so no parameter can run code.

Examples
--------
>>> from painstudy.reporting.parameters import check_value, literal_cell
>>> check_value(["pain"], "list[str] | None") is None
True
>>> check_value("7", "int")
"expected int, got '7' (str)"
>>> print(literal_cell({"seed": 8, "study": "x\\"); import os"}))
seed = 8
study = 'x"); import os'
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ReportError

#: Parameters set by painstudy itself (from the STUDY argument and --out), not by -p/-f.
RESERVED = {"study": "the STUDY argument", "output_dir": "--out"}
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


class ParameterError(ReportError):
    """A notebook parameter is unknown, of the wrong type, or cannot be read (a usage error: exit 2)."""


@dataclass(frozen=True)
class Parameter:
    """A parameter declared in a notebook's ``parameters`` cell."""

    name: str
    annotation: str
    default: Any


def read_notebook(path: str | Path) -> dict:
    """A notebook file as its JSON document (nbformat 4), read without importing nbformat: the runner
    only reads the parameters cell and adds one cell, and nbformat's import costs seconds (jsonschema's
    format checkers); the executing process validates the notebook with nbformat."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ReportError(f"{path}: cannot read the notebook ({e.strerror or e})") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise ReportError(f"{path}: not a Jupyter notebook (not JSON: {e})") from None
    if not (isinstance(nb, dict) and isinstance(nb.get("cells"), list) and nb.get("nbformat") == 4):
        raise ReportError(f"{path}: not a Jupyter notebook of format 4 (no 'cells' list, or another 'nbformat')")
    return nb


def write_notebook(nb: dict, path: str | Path) -> Path:
    """Write a notebook document as nbformat writes it (sorted keys, one-space indent, UTF-8)."""
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": ")) + "\n"
    Path(path).write_text(text, encoding="utf-8")
    return Path(path)


def cell_source(cell: Mapping) -> str:
    """A cell's source as one string (notebook files store it as a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _tags(cell: Mapping) -> list:
    meta = cell.get("metadata")
    tags = meta.get("tags", []) if isinstance(meta, Mapping) else []
    return tags if isinstance(tags, list) else []


def _parameters_cell(nb: dict) -> dict | None:
    for cell in nb["cells"]:
        if isinstance(cell, Mapping) and cell.get("cell_type") == "code" and PARAMETERS_TAG in _tags(cell):
            return cell
    return None


def notebook_parameters(path: str | Path) -> dict[str, Parameter]:
    """The parameters a notebook declares (name, type annotation, default), read without running it."""
    return _declared(read_notebook(path), Path(path).stem)


def _declared(nb: dict, name: str) -> dict[str, Parameter]:
    """The parameters declared in the ``parameters`` cell of notebook document ``nb`` (called ``name``)."""
    cell = _parameters_cell(nb)
    if cell is None:
        return {}
    try:
        tree = ast.parse(cell_source(cell))
    except SyntaxError as e:
        raise ReportError(f"{name}: the parameters cell is not valid Python (line {e.lineno}: {e.msg})") from None
    out = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, annotation = node.target.id, ast.unparse(node.annotation)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, annotation = node.targets[0].id, "Any"
        else:
            raise ReportError(
                f"{name}: the parameters cell may hold only assignments of values "
                f"(line {node.lineno}: {ast.unparse(node)[:60]})"
            )
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ReportError(
                f"{name}: parameter {target!r} has a default that is not a plain value ({ast.unparse(node.value)[:60]})"
            ) from None
        out[target] = Parameter(target, annotation, default)
    return out


# -------------------------------------------------------------------------------------------
# types
# -------------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    kind = {
        bool: "true/false",
        int: "int",
        float: "float",
        str: "str",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{text[:60]}{'...' if len(text) > 60 else ''} ({kind})"


def _plain(value: Any) -> bool:
    """Made only of str, int, float (finite), bool, None, lists and str-keyed mappings."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _matches(value: Any, node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _matches(value, node.left) or _matches(value, node.right)
    if isinstance(node, ast.Constant) and node.value is None:
        return value is None
    if isinstance(node, ast.Name):
        kind = node.id
        if kind == "Any":
            return _plain(value)
        if kind == "None":
            return value is None
        if kind == "bool":
            return isinstance(value, bool)
        if kind == "int":
            return isinstance(value, int) and not isinstance(value, bool)
        if kind == "float":
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if kind == "str":
            return isinstance(value, str)
        if kind == "list":
            return isinstance(value, list) and _plain(value)
        if kind == "dict":
            return isinstance(value, dict) and _plain(value)
        raise ReportError(f"unsupported parameter type {kind!r} in a parameters cell")
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if node.value.id == "list" and len(args) == 1:
            return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
        if node.value.id == "dict" and len(args) == 2:
            return isinstance(value, dict) and all(
                _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
            )
    raise ReportError(f"unsupported parameter type {ast.unparse(node)!r} in a parameters cell")


def check_value(value: Any, annotation: str) -> str | None:
    """``None`` when ``value`` is of the declared type, else what is wrong."""
    if not _plain(value):
        return (
            f"expected {annotation}, got {_describe(value)}: only text, numbers, true/false, null, lists "
            "and mappings are allowed"
        )
    if _matches(value, ast.parse(annotation, mode="eval").body):
        return None
    hint = " (write a list as [a, b])" if "list" in annotation and not isinstance(value, list) else ""
    return f"expected {annotation}, got {_describe(value)}{hint}"


def check_parameters(
    given: Mapping[str, Any], notebooks: Sequence[str | Path], raw: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Check parameters against the notebooks' ``parameters`` cells; return the accepted values.

    ``raw`` holds the text of ``-p`` values: a value YAML turned into another type (``yes``,
    ``1e3``) is kept as text when the parameter is declared as text.

    Raises
    ------
    ParameterError
        A name no notebook declares (the message lists the known ones), a reserved name, or a
        value of the wrong type.
    """
    declared: dict[str, list[Parameter]] = {}
    for nb in notebooks:
        for name, p in notebook_parameters(nb).items():
            declared.setdefault(name, []).append(p)
    known = sorted(n for n in declared if n not in RESERVED)
    out = {}
    for key, value in given.items():
        if key in RESERVED:
            raise ParameterError(f"parameter {key!r} is set by {RESERVED[key]}, not by -p/-f")
        if key not in declared:
            names = ", ".join(Path(n).stem for n in notebooks)
            raise ParameterError(
                f"unknown parameter {str(key)[:60]!r}; the notebooks ({names}) take: {', '.join(known)}"
            )
        for p in declared[key]:
            problem = check_value(value, p.annotation)
            if problem and raw is not None and key in raw and check_value(raw[key], p.annotation) is None:
                value, problem = raw[key], None
            if problem:
                raise ParameterError(f"parameter {key!r}: {problem}")
        out[key] = value
    return out


# -------------------------------------------------------------------------------------------
# reading -p and -f
# -------------------------------------------------------------------------------------------


def read_parameters_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML parameters file (an empty file is an empty mapping)."""
    from ..errors import StudySpecError
    from ..study_schema import load_yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ParameterError(f"{path}: cannot read the parameters file ({getattr(e, 'strerror', None) or e})") from None
    try:  # the study.yml reader: duplicate keys, recursive or exploding aliases and bad YAML are errors
        doc, _ = load_yaml(text, str(path))
    except StudySpecError as e:
        raise ParameterError(f"{path}: not a valid parameters file: " + "; ".join(e.problem_lines())) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ParameterError(
            f"{path}: a parameters file is a YAML mapping (name: value lines), not a {type(doc).__name__}"
        )
    bad = [k for k in doc if not isinstance(k, str)]
    if bad:
        raise ParameterError(f"{path}: parameter names are text; got {bad[0]!r}")
    return doc


def parse_assignment(text: str) -> tuple[str, Any, str]:
    """``KEY=VALUE`` from ``-p``: the key, the value read as YAML, and the value's raw text."""
    import yaml

    if "=" not in text:
        raise ParameterError(f"-p expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key.strip(), value, raw


def read_parameters(
    assignments: Iterable[str] = (), file: str | Path | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Parameters from a ``-f`` file, then ``-p KEY=VALUE`` (which win); and the raw ``-p`` texts."""
    params = read_parameters_file(file) if file else {}
    raw = {}
    for text in assignments:
        key, value, raw[key] = parse_assignment(text)
        params[key] = value
    return params, raw


# -------------------------------------------------------------------------------------------
# injection
# -------------------------------------------------------------------------------------------


def literal_cell(values: Mapping[str, Any]) -> str:
    """Python source assigning ``values`` as literals; verified to hold nothing but literals."""
    lines = [f"{name} = {value!r}" for name, value in values.items()]
    source = "\n".join(lines)
    tree = ast.parse(source)
    for node, (name, value) in zip(tree.body, values.items(), strict=True):
        ok = (
            name.isidentifier()
            and isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == name
        )
        if not ok or not _plain(value) or ast.literal_eval(node.value) != value:
            raise ParameterError(f"parameter {name!r}: cannot be written as a plain value")
    return source


def inject(source: str | Path, target: str | Path, values: Mapping[str, Any]) -> Path:
    """Write a copy of notebook ``source`` with ``values`` in a cell tagged ``injected-parameters``
    right after its ``parameters`` cell (only the names that notebook declares)."""
    nb = read_notebook(source)  # read once: the declared names come from the same document
    declared = _declared(nb, Path(source).stem)
    mine = {k: v for k, v in values.items() if k in declared}
    nb["cells"] = [c for c in nb["cells"] if not (isinstance(c, Mapping) and INJECTED_TAG in _tags(c))]
    if mine:
        cell = _parameters_cell(nb)
        at = nb["cells"].index(cell) + 1 if cell is not None else 0
        new = {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {"tags": [INJECTED_TAG]},
            "outputs": [],
            "source": "# Parameters given to this report run\n" + literal_cell(mine),
        }
        if nb.get("nbformat_minor", 0) >= 5:  # cell ids exist from format 4.5 on
            new["id"] = "injected-parameters"
        nb["cells"].insert(at, new)
    return write_notebook(nb, target)
