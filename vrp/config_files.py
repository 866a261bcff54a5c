"""Load a routing configuration from a directory of YAML files, reporting file and line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vrp.domain.checks import Problem, reference_problems, stored_code_warnings, warnings
from vrp.domain.configuration import RoutingConfiguration

Location = tuple[str | int, ...]


class ConfigurationError(Exception):
    """The configuration directory is unreadable or invalid; messages name file and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class _Sources:
    """Where each top-level key came from, and the line of every node below it."""

    files: dict[str, Path] = field(default_factory=dict)
    lines: dict[Location, int] = field(default_factory=dict)

    def where(self, path: Location) -> str:
        if not path or path[0] not in self.files:
            return "configuration"
        for n in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return f"{self.files[str(path[0])]}:{line}"
        return str(self.files[str(path[0])])


def _index_lines(node: yaml.Node, path: Location, out: dict[Location, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _index_lines(value, (*path, key.value), out)
            out.setdefault((*path, key.value), key.start_mark.line + 1)
    elif isinstance(node, yaml.SequenceNode):
        for n, item in enumerate(node.value):
            _index_lines(item, (*path, n), out)


def _read(directory: Path) -> tuple[dict[str, Any], _Sources]:
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigurationError([f"{directory}: no *.yaml files"])
    merged: dict[str, Any] = {}
    sources = _Sources()
    problems: list[str] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            document = yaml.safe_load(text) or {}
            node = yaml.compose(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problems.append(f"{where}: YAML error: {getattr(exc, 'problem', exc)}")
            continue
        if not isinstance(document, dict):
            problems.append(f"{path}:1: the top level must be a mapping")
            continue
        if node is not None:
            _index_lines(node, (), sources.lines)
        for key, value in document.items():
            if key in merged:
                problems.append(f"{path}: {key!r} is also defined in {sources.files[key]}")
            merged[key] = value
            sources.files[key] = path
    if problems:
        raise ConfigurationError(problems)
    return merged, sources


def _validate(merged: dict[str, Any], sources: _Sources) -> RoutingConfiguration:
    try:
        config = RoutingConfiguration.model_validate(
            merged, context={"defer_reference_checks": True}
        )
    except ValidationError as exc:
        raise ConfigurationError(
            [
                f"{sources.where(tuple(e['loc']))}: {_dotted(e['loc'])}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from None
    problems = reference_problems(config)
    if problems:
        raise ConfigurationError([_render(p, sources) for p in problems])
    return config


def _dotted(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _render(p: Problem, sources: _Sources) -> str:
    return f"{sources.where(p.path)}: {p.message}"


def load_configuration(directory: Path) -> RoutingConfiguration:
    """Read every *.yaml file in directory, merge their top-level keys and validate."""
    return _validate(*_read(directory))


def check_directory(
    directory: Path, today: date, stored: Mapping[str, Mapping[str, int]] | None = None
) -> tuple[RoutingConfiguration, list[str]]:
    """Load (raising ConfigurationError on errors) and return the warnings, with lines;
    `stored` (vocabulary -> code -> uses) adds codes stored referrals use but the
    vocabularies no longer have."""
    merged, sources = _read(directory)
    config = _validate(merged, sources)
    found = warnings(config, today) + stored_code_warnings(config, stored or {})
    return config, [_render(w, sources) for w in found]
