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
    """Where every node of the merged document came from: its file and line."""

    origins: dict[Location, tuple[Path, int]] = field(default_factory=dict)

    def where(self, path: Location) -> str:
        for n in range(len(path), 0, -1):
            found = self.origins.get(tuple(path[:n]))
            if found is not None:
                return f"{found[0]}:{found[1]}"
        return "configuration"

    def index(self, node: yaml.Node, path: Location, file: Path) -> None:
        """Record the line of node and everything below it, at path."""
        self.origins[path] = (file, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self.index(value, (*path, key.value), file)
        elif isinstance(node, yaml.SequenceNode):
            for n, item in enumerate(node.value):
                self.index(item, (*path, n), file)


def _identity(section: Location, item: object) -> str | None:
    """What names a list item across files: its id (and version, for an agreement)."""
    if not isinstance(item, dict) or "id" not in item:
        return None
    if section == ("agreements",):
        return f"{item['id']} v{item.get('version')}"
    return str(item["id"])


def _children(node: yaml.Node) -> dict[str, yaml.Node]:
    return {str(k.value): v for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}


def _merge(
    into: dict[str, Any],
    document: Mapping[Any, Any],
    node: yaml.Node,
    path: Location,
    file: Path,
    sources: _Sources,
    problems: list[str],
) -> None:
    """Merge one file's mapping into what the earlier files gave: mappings merge key by key,
    lists concatenate (an id defined twice is a conflict), equal scalars agree, and any
    other difference is a conflict naming both places."""
    nodes = _children(node)
    for key, value in document.items():
        here = (*path, key)
        child = nodes.get(str(key))
        if value is None and key in into:
            continue  # an empty key (`rules:`) adds nothing to what another file gave
        if into.get(key) is None:
            into[key] = value
            if child is not None:
                sources.index(child, here, file)
            continue
        earlier = into[key]
        line = f"{file}:{child.start_mark.line + 1}" if child is not None else str(file)
        if isinstance(earlier, dict) and isinstance(value, dict) and child is not None:
            _merge(earlier, value, child, here, file, sources, problems)
        elif isinstance(earlier, list) and isinstance(value, list):
            items = child.value if isinstance(child, yaml.SequenceNode) else []
            for n, item_node in enumerate(items):
                sources.index(item_node, (*here, len(earlier) + n), file)
            seen = {_identity(here, x): n for n, x in enumerate(earlier)}
            for n, item in enumerate(value, start=len(earlier)):
                name = _identity(here, item)
                if name is not None and name in seen:
                    problems.append(
                        f"{sources.where((*here, n))}: {_dotted(here)}: {name!r} is defined "
                        f"here and in {sources.where((*here, seen[name]))}"
                    )
                seen.setdefault(name, n)
            earlier.extend(value)
        elif earlier != value:
            # Values are left out: a contact address is no business of a log line.
            problems.append(
                f"{line}: {_dotted(here)}: set differently here and in {sources.where(here)}"
            )


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
            _merge(merged, document, node, (), path, sources, problems)
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
    """Read every *.yaml file in directory (in name order), merge them and validate: lists
    under one key concatenate, mappings merge; an id defined twice, or two different values
    for one setting, is refused naming both files."""
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
