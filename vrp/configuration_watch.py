"""The live routing configuration: loaded at start, hot-reloaded when its files change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from vrp.config_files import ConfigurationError, load_configuration
from vrp.domain.configuration import RoutingConfiguration

log = logging.getLogger(__name__)


class LiveConfiguration:
    """Holds the current configuration; a new one that fails validation is refused."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._current = load_configuration(directory)
        self._stamp = self._fingerprint()
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
            self._reloaded(False)
            return False
        self._reloaded(True)
        if candidate.version == self._current.version:
            return False
        log.info("configuration %s -> %s", self._current.version, candidate.version)
        self._current = candidate
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
