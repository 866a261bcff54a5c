"""The independent FHIR R4 validator (HAPI FHIR's HL7 validator, deploy/fhir-validator.sh):
validate many resources in one run and pick out the errors. Base R4 only: no UK Core or BaRS
profiles, so no errors means valid R4, not valid BaRS."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

REPO = Path(__file__).resolve().parents[1]
SCRIPT_VARIABLE = "VRP_TEST_FHIR_VALIDATOR"
"""Names deploy/fhir-validator.sh (deploy/test.sh sets it after building the validator)."""
TIMEOUT = 240.0
"""Seconds for one run: about 5 s to start, then tens of milliseconds a resource. Below
pytest's 300 s a test, so a stuck validator is reported as such."""
SEVERITIES = frozenset({"fatal", "error", "warning", "information"})
FAILING = frozenset({"fatal", "error"})

Resource: TypeAlias = Mapping[str, object]


@dataclass(frozen=True)
class Issue:
    """One finding of the validator about one resource."""

    severity: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity} at {self.location or '(resource)'}: {self.message}"


Validate: TypeAlias = Callable[[Mapping[str, Resource]], dict[str, list[Issue]]]


class FhirValidatorError(RuntimeError):
    """The validator did not run, or did not answer for every resource."""


def script() -> Path:
    """The validator's script: VRP_TEST_FHIR_VALIDATOR, else the one in this repository."""
    return Path(os.environ.get(SCRIPT_VARIABLE) or REPO / "deploy" / "fhir-validator.sh")


def unavailable(path: Path) -> str:
    """Why the validator at `path` cannot run (not built, or older than its sources), or ''."""
    try:
        done = subprocess.run([str(path), "status"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{path} does not run ({type(exc).__name__})"
    return "" if done.returncode == 0 else done.stderr.strip() or f"exit {done.returncode}"


def validate(
    resources: Mapping[str, Resource], command: Path | None = None
) -> dict[str, list[Issue]]:
    """Every issue the validator finds in each named resource, all in one run (one JVM)."""
    if not resources:
        return {}
    path = command or script()
    try:
        done = subprocess.run(
            [str(path), "run"],
            input=json.dumps(resources),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FhirValidatorError(f"{path} run: {exc}") from exc
    if done.returncode != 0:
        raise FhirValidatorError(f"{path} run: exit {done.returncode}: {done.stderr[-2000:]}")
    try:
        answer = json.loads(done.stdout)
        found = {name: [Issue(**issue) for issue in issues] for name, issues in answer.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise FhirValidatorError(f"{path} run answered {done.stdout[:500]!r}") from exc
    # An answer missing a resource must not read as "no issues": that would pass vacuously.
    if found.keys() != resources.keys():
        raise FhirValidatorError(f"{path} answered for {sorted(found)}, not {sorted(resources)}")
    strange = {i.severity for issues in found.values() for i in issues} - SEVERITIES
    if strange:
        raise FhirValidatorError(f"{path} run gave unknown severities {sorted(strange)}")
    return found


def errors(found: Mapping[str, Sequence[Issue]]) -> dict[str, list[Issue]]:
    """Only the errors (and fatal issues) of each resource, every resource kept."""
    return {name: [i for i in issues if i.severity in FAILING] for name, issues in found.items()}
