"""Run intake, router and notifier as separate OS processes on Kafka + PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


class Cluster:
    """Three `vrp <role>` processes sharing settings through VRP_* environment variables."""

    def __init__(
        self,
        env: dict[str, str],
        logs: Path,
        intake_url: str,
        role_env: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.env = {**os.environ, **env}
        self.role_env = role_env or {}
        self.logs = logs
        self.intake_url = intake_url
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, role: str) -> None:
        log = (self.logs / f"{role}.log").open("ab")
        self.procs[role] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", role],
            env={**self.env, **self.role_env.get(role, {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def kill(self, role: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(role)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for role, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{role} exited: {self.tail(role)}")
            try:
                if httpx.get(f"{self.intake_url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("intake did not become ready")

    def log(self, role: str) -> str:
        path = self.logs / f"{role}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tail(self, role: str) -> str:
        return self.log(role)[-3000:]

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
