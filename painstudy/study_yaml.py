"""YAML with line numbers: the reader of study.yml files (:func:`load_yaml`).

YAML is read with the YAML 1.2 core rules for plain scalars: ``true``/``false`` are booleans (``yes``,
``no``, ``on``, ``off`` stay text), ``010`` is the number 10 and dates stay text. Every field's line is
kept (``{"arms[0].control": 3}``) so that :mod:`painstudy.study_schema` can name it in messages.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .errors import Problem

# -------------------------------------------------------------------------------------------
# YAML with line numbers
# -------------------------------------------------------------------------------------------

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class StudyYamlLoader(yaml.SafeLoader):
    """A safe YAML loader with the YAML 1.2 core rules for plain scalars (see the module docstring)."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT, _TIMESTAMP)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        return sign * int(digits, 10)


StudyYamlLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
StudyYamlLoader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
StudyYamlLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
StudyYamlLoader.add_constructor(_INT, StudyYamlLoader.construct_yaml_int)


def _yaml_problem(e: yaml.YAMLError, source: str) -> Problem:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    words = "; ".join(str(x) for x in (getattr(e, "context", None), getattr(e, "problem", None)) if x)
    return Problem(
        "yaml_syntax",
        f"not valid YAML: {words or type(e).__name__}",
        line=None if mark is None else mark.line + 1,
        file=source,
    )


def load_yaml(text: str, source: str = "study.yml") -> tuple[Any, dict[str, int]]:
    """Parse YAML text; return the document and the line of every field path.

    Paths are written as in messages: ``arms[1].control``, ``outcomes.pain.instrument``; the
    empty path is the document. Duplicate keys and recursive aliases are errors (a
    :class:`~painstudy.errors.StudySpecError` listing every one), as is invalid YAML (with its line).
    """
    from .errors import StudySpecError

    loader = StudyYamlLoader(text)
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        doc = None if node is None else _construct(loader, node, "", lines, problems, source, set())
    except yaml.YAMLError as e:
        raise StudySpecError(f"{source}: not valid YAML", [_yaml_problem(e, source)]) from None
    except _TooLarge as e:
        raise StudySpecError(
            f"{source}: not a study definition",
            [
                Problem(
                    "yaml_syntax",
                    f"the document expands to more than {MAX_YAML_VALUES:,} values (aliases repeating aliases?)",
                    line=e.line,
                    file=source,
                )
            ],
        ) from None
    except RecursionError:
        raise StudySpecError(
            f"{source}: not a study definition",
            [Problem("yaml_syntax", "lists or mappings are nested too deeply", file=source)],
        ) from None
    finally:
        loader.dispose()
    if problems:
        raise StudySpecError(f"{source}: {len(problems)} problem(s) in the YAML", problems)
    return doc, lines


#: At most this many values in a YAML document once its aliases are expanded (a study.yml has a few hundred;
#: repeated aliases can expand a short file exponentially: the "billion laughs").
MAX_YAML_VALUES = 100_000


class _TooLarge(Exception):
    def __init__(self, line: int):
        self.line = line


def _construct(loader, node, path, lines, problems, source, active):
    lines.setdefault(path, node.start_mark.line + 1)
    if len(lines) > MAX_YAML_VALUES:
        raise _TooLarge(node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node, deep=True)
    if id(node) in active:
        problems.append(
            Problem(
                "yaml_syntax",
                "an alias refers to itself (recursive YAML)",
                path or None,
                node.start_mark.line + 1,
                source,
            )
        )
        return None
    active.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            return [
                _construct(loader, item, f"{path}[{i}]", lines, problems, source, active)
                for i, item in enumerate(node.value)
            ]
        loader.flatten_mapping(node)
        out: dict = {}
        first_line: dict = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                problems.append(
                    Problem("yaml_syntax", "a key must be a name, not a list or mapping", path or None, line, source)
                )
                continue
            child = f"{path}.{key}" if path else str(key)
            if key in out:
                problems.append(
                    Problem(
                        "duplicate_key",
                        f"key {key!r} is written twice (lines {first_line[key]} "
                        f"and {line}); YAML would keep only the second",
                        child,
                        line,
                        source,
                    )
                )
                continue
            first_line[key] = line
            lines[child] = line
            out[key] = _construct(loader, value_node, child, lines, problems, source, active)
        return out
    finally:
        active.discard(id(node))
