"""Loading schema-checked YAML data files (policy, crisis resources, reply checks, suites) with errors that name
the file, the line and the field.

PyYAML's composer keeps each node's position; pydantic reports a location path (``rules.3.actions.0``). Walking
the node tree along that path gives the line of the offending value, so an error reads
``policy.yaml:42: rules[3].actions[0]: Input should be 'respond', ...``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """The one base of every data-file schema: unknown fields are errors (a typo in a policy key must not pass
    silently) and loaded values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataFileError(ValueError):
    """A data file is unreadable or fails its schema; the message names file, line and field."""


@dataclass(frozen=True, slots=True)
class _Located:
    label: str
    data: Any
    root: yaml.Node | None


def _read(source: Path | str, package: str | None) -> tuple[str, str]:
    if package is not None:
        text = resources.files(package).joinpath(str(source)).read_text("utf-8")
        return f"{package.replace('.', '/')}/{source}", text
    path = Path(source)
    try:
        return str(path), path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not UTF-8 (byte {exc.start})") from None


def _parse(label: str, text: str) -> _Located:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise DataFileError(f"{label}{where}: {problem}") from None
    return _Located(label, data, root)


def line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the value at ``loc``, or of its nearest existing parent."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


_DEF_REF = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")


def expand_defs(pattern: str, defs: dict[str, str]) -> str:
    """``{NAME}`` in a data file's regex replaced by its definition from the file's ``defs:`` (a definition may use
    another, so this repeats until nothing changes, at most five rounds); other braces (``{0,40}``) and unknown names
    are left alone."""
    for _ in range(5):
        expanded = _DEF_REF.sub(lambda m: defs.get(m.group(1), m.group(0)), pattern)
        if expanded == pattern:
            break
        pattern = expanded
    return pattern


def field_path(loc: tuple[int | str, ...] | list[int | str], empty: str = "(top level)") -> str:
    """A pydantic error location as it reads in a data file: ``rules[3].actions[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or empty


def entry_id(root: yaml.Node | None, loc: tuple[int | str, ...]) -> str | None:
    """The ``id`` of the innermost list entry on the way to ``loc`` (pattern and rule files name entries by id)."""
    node, found = root, None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            if isinstance(node, yaml.MappingNode):
                ids = [v.value for k, v in node.value if k.value == "id" and isinstance(v, yaml.ScalarNode)]
                found = ids[0] if ids else found
        else:
            break
    return found


def describe(label: str, root: yaml.Node | None, exc: ValidationError) -> str:
    """One line per problem: ``file:line: field.path: message``, and the entry's id where it has one."""
    lines = [f"{label}: {exc.error_count()} problem(s)"]
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
        line = line_of(root, loc)
        eid = entry_id(root, loc)
        named = f" (id {eid!r})" if eid else ""
        lines.append(f"  {label}{f':{line}' if line else ''}: {field_path(loc)}: {err['msg']}{named}")
    return "\n".join(lines)


def load_model(model: type[M], source: Path | str, *, package: str | None = None) -> M:
    """Read YAML from ``source`` (a path, or a resource name inside ``package``) and validate it as ``model``."""
    label, text = _read(source, package)
    located = _parse(label, text)
    if located.data is None:
        raise DataFileError(f"{label}: empty file")
    try:
        return model.model_validate(located.data)
    except ValidationError as exc:
        raise DataFileError(describe(label, located.root, exc)) from None


def read_jsonl(path: Path, model: type[M]) -> Iterator[M]:
    """Lines of a JSONL data file, validated one at a time (constant memory); an error names the file, the line
    and the field, never the text (data files hold sensitive writing)."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield model.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{path}:{n}: not JSON ({exc.msg})") from None
            except ValidationError as exc:
                err = exc.errors()[0]
                raise DataFileError(f"{path}:{n}: {field_path(err['loc'])}: {err['msg']}") from None
