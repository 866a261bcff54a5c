"""A configuration change that fails to load is visible: /ready (intake's and the metrics
port's), `vrp status` (degraded) and the console's directory page say which files failed,
when, why (file, line and field) and which version still serves."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from testkit.console import signed_in
from testkit.ports import free_port
from testkit.runtime import Served, runtime_settings, serving
from vrp.configuration_watch import LiveConfiguration
from vrp.settings import DEMO_CONFIG_DIR

BROKEN = "status: lapsed"


def copy_demo(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    return target


def break_agreements(directory: Path) -> int:
    """Give an agreement a status that does not exist; the line it is on."""
    path = directory / "agreements.yaml"
    text = path.read_text().replace("status: active", BROKEN, 1)
    path.write_text(text)
    return next(n for n, t in enumerate(text.splitlines(), 1) if BROKEN in t)


def test_a_failed_reload_is_kept_until_a_reload_loads(tmp_path: Path) -> None:
    directory = copy_demo(tmp_path)
    live = LiveConfiguration(directory)
    version = live().version
    assert live.failure is None
    line = break_agreements(directory)
    assert not live.reload_if_changed()
    failure = live.failure
    assert failure is not None
    assert failure.files == ("agreements.yaml",)
    assert failure.version == version and live().version == version
    assert failure.problems[0].startswith(f"agreements.yaml:{line}: agreements.")
    assert ".status: Input should be" in failure.problems[0]
    assert str(tmp_path) not in " ".join(failure.problems)  # file names, not the machine's
    assert "agreements.yaml failed to load at" in failure.summary()
    assert f"still using version {version}" in failure.summary()
    path = directory / "agreements.yaml"
    path.write_text(path.read_text().replace(BROKEN, "status: active"))
    live.reload_if_changed()
    assert live.failure is None


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[Served]:
    """A running system whose configuration directory the test may break."""
    settings = runtime_settings(
        f"sqlite+aiosqlite:///{tmp_path}/vrp.db",
        mail_dir=tmp_path,
        config_dir=copy_demo(tmp_path),
        metrics_port=free_port(),
        metrics_host="127.0.0.1",
    )
    async with serving(settings) as served:
        yield served


def status(system: Served) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "VRP_DATABASE_URL": system.runtime.settings.database_url,
        "VRP_CONFIG_DIR": str(system.runtime.settings.config_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_a_running_system_shows_the_failure_everywhere_it_is_read(system: Served) -> None:
    settings = system.runtime.settings
    version = system.runtime.config().version
    before = await system.client.get("/ready")
    assert before.json()["status"] == "ready" and "configuration" not in before.json()

    line = break_agreements(settings.config_dir)
    system.runtime.config.reload_if_changed()  # what the watch does within two seconds

    ready = await system.client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    cfg = body["configuration"]
    assert cfg["status"] == "reload-failed" and cfg["files"] == ["agreements.yaml"]
    assert cfg["version"] == version
    assert cfg["problems"][0].startswith(f"agreements.yaml:{line}: agreements.")
    assert ".status: " in cfg["problems"][0]
    assert "lapsed" not in ready.text  # the field is named, its value is not quoted

    async with httpx.AsyncClient() as plain:
        port = await plain.get(f"http://127.0.0.1:{settings.metrics_port}/ready")
    # (Embedded consumers never "join" a group, so this port's own verdict is not ready
    # here; the configuration's failure is reported beside whatever it is.)
    assert port.json()["configuration"]["version"] == version

    async with httpx.AsyncClient(base_url=system.client.base_url) as browser:
        await signed_in(browser, "ig.lead")
        page = " ".join((await browser.get("/console/directory")).text.split())
    assert 'id="reload-failure"' in page
    assert "The configuration in files agreements.yaml failed to load at" in page
    assert f"still using version <code>{version}</code>" in page
    assert f"agreements.yaml:{line}: agreements." in page

    # In a thread: the runtime keeps running (and releasing SQLite's lock) meanwhile.
    result = await asyncio.to_thread(status, system)
    assert result.returncode == 1, result.stdout
    assert "DEGRADED" in result.stdout.splitlines()[0]
    assert "degraded: configuration files fail to load: " in result.stdout
    assert f"the services keep version {version}" in result.stdout

    path = settings.config_dir / "agreements.yaml"
    path.write_text(path.read_text().replace(BROKEN, "status: active"))
    system.runtime.config.reload_if_changed()
    after = await system.client.get("/ready")
    assert after.json()["status"] == "ready" and "configuration" not in after.json()
    async with httpx.AsyncClient(base_url=system.client.base_url) as browser:
        await signed_in(browser, "ig.lead")
        assert 'id="reload-failure"' not in (await browser.get("/console/directory")).text
