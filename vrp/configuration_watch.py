"""The live routing configuration: loaded at start, hot-reloaded when its files change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vrp.config_files import ConfigurationError, load_configuration
from vrp.domain.configuration import RoutingConfiguration

log = logging.getLogger(__name__)

SHOWN_PROBLEMS = 5
"""Problems a reload failure reports (the rest are counted): enough to start fixing."""


@dataclass(frozen=True, slots=True)
class ReloadFailure:
    """The configuration files changed but failed to load: the old version stays in force.
    Messages name files, lines and fields, never values (the files hold no personal data)."""

    files: tuple[str, ...]
    """The files the problems name (all of the directory's when none is named)."""
    failed_at: datetime
    problems: tuple[str, ...]
    more: int
    """Problems beyond those listed."""
    version: str
    """The version still in force."""
    since: datetime
    """When that version was put in force by this process."""

    def as_json(self) -> dict[str, Any]:
        """For /ready and the metrics endpoint's readiness."""
        return {
            "status": "reload-failed",
            "files": list(self.files),
            "failed_at": self.failed_at.isoformat(),
            "problems": list(self.problems),
            "more_problems": self.more,
            "version": self.version,
            "since": self.since.isoformat(),
        }

    def summary(self) -> str:
        """One sentence for a page or a log line."""
        return (
            f"The configuration in {', '.join(self.files)} failed to load at "
            f"{self.failed_at:%Y-%m-%d %H:%M:%S} UTC; still using version {self.version} "
            f"(in force since {self.since:%Y-%m-%d %H:%M:%S} UTC)."
        )


def _failure(directory: Path, problems: list[str], version: str, since: datetime) -> ReloadFailure:
    names = sorted(p.name for p in directory.glob("*.yaml"))
    named = [n for n in names if any(str(directory / n) in p for p in problems)]
    return ReloadFailure(
        files=tuple(named or names),
        failed_at=datetime.now(UTC),
        problems=tuple(p.replace(f"{directory}/", "") for p in problems[:SHOWN_PROBLEMS]),
        more=max(0, len(problems) - SHOWN_PROBLEMS),
        version=version,
        since=since,
    )


class LiveConfiguration:
    """Holds the current configuration; a new one that fails validation is refused."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._current = load_configuration(directory)
        self._since = datetime.now(UTC)
        self._stamp = self._fingerprint()
        self.failure: ReloadFailure | None = None
        """Set while the files on disk fail to load (the old version stays in force);
        cleared by the next reload that loads."""
        self.on_new_version: list[Callable[[RoutingConfiguration], Awaitable[None]]] = []
        """Called (by watch) with each version that takes effect after the first."""
        self.on_reload: list[Callable[[bool], None]] = []
        """Called with each reload of changed files: True when they loaded, False when
        refused (for the reloads counter)."""

    def __call__(self) -> RoutingConfiguration:
        """The configuration in force now."""
        return self._current

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        return tuple(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(self.directory.glob("*.yaml"))
        )

    def reload_if_changed(self) -> bool:
        """Load the files again if they changed; True when a new version took effect."""
        stamp = self._fingerprint()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            candidate = load_configuration(self.directory)
        except (ConfigurationError, OSError) as exc:
            # OSError: a file removed or unreadable mid-change; the watch must go on.
            log.error("configuration change refused; keeping %s:\n%s", self._current.version, exc)
            problems = exc.problems if isinstance(exc, ConfigurationError) else [str(exc)]
            self.failure = _failure(self.directory, problems, self._current.version, self._since)
            self._reloaded(False)
            return False
        self.failure = None
        self._reloaded(True)
        if candidate.version == self._current.version:
            return False
        log.info("configuration %s -> %s", self._current.version, candidate.version)
        self._current = candidate
        self._since = datetime.now(UTC)
        return True

    def _reloaded(self, ok: bool) -> None:
        for listener in self.on_reload:
            listener(ok)

    async def watch(self, stopping: asyncio.Event, interval: float = 2.0) -> None:
        """Poll for changes until stopped."""
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), timeout=interval)
            except TimeoutError:
                if self.reload_if_changed():
                    for listener in self.on_new_version:
                        await listener(self._current)
