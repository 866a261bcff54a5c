"""Load a routing configuration from a directory of YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vrp.domain.configuration import RoutingConfiguration


class ConfigurationError(Exception):
    """The configuration directory is unreadable or invalid; messages name file and place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_configuration(directory: Path) -> RoutingConfiguration:
    """Read every *.yaml file in directory, merge their top-level keys and validate."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigurationError([f"{directory}: no *.yaml files"])
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    problems: list[str] = []
    for path in files:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problems.append(f"{where}: YAML error: {getattr(exc, 'problem', exc)}")
            continue
        if not isinstance(document, dict):
            problems.append(f"{path}: the top level must be a mapping")
            continue
        for key, value in document.items():
            if key in merged:
                problems.append(f"{path}: key {key!r} also defined in {origin[key]}")
            merged[key] = value
            origin[key] = path
    if problems:
        raise ConfigurationError(problems)
    try:
        return RoutingConfiguration.model_validate(merged)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc, origin)) from None


def _describe(exc: ValidationError, origin: dict[str, Path]) -> list[str]:
    out = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in error["loc"]]
        where = str(origin.get(loc[0], "configuration")) if loc else "configuration"
        out.append(f"{where}: {'.'.join(loc) or '(top level)'}: {error['msg']}")
    return out
