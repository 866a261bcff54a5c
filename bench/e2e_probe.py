"""Instruments of bench.e2e: the machine, per-process figures from /proc, an SMTP sink that
times alert arrivals, bench-only Kafka principals, and the aiokafka two-hop baseline."""

from __future__ import annotations

import asyncio
import os
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiosmtpd.controller import Controller

from bench.broker import principal_prefix
from vrp.provisioning.access import Access
from vrp.settings import KafkaSecurity, Settings
from vrp.transport.connection import aiokafka_options, confluent_options

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
ROLES = ("intake", "router", "notifier")


# ---------------------------------------------------------------- machine and processes


def machine() -> dict[str, Any]:
    """Cores, CPU model, RAM and kernel, from /proc."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "")
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "ram_gb": round(mem_kb / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def git_commit() -> dict[str, Any]:
    """HEAD and whether the work tree has uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and all its descendants, those that ended included (their
    time is in the parent's cutime and cstime once reaped): e.g. a PostgreSQL postmaster
    and every backend it forked."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            children.setdefault(int(stat[1]), []).append(int(entry.name))

    def total(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        own = sum(int(f) for f in fields[11:15]) / TICK  # utime stime cutime cstime
        return own + sum(total(c) for c in children.get(p, []))

    return total(pid)


def server_pids() -> dict[str, int]:
    """The PostgreSQL postmaster ("database") and the Kafka broker ("broker") on this
    machine, found by their command lines; either may be absent."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if args[0].endswith(b"/postgres") and b"-D" in args and ppid == 1:
            found["database"] = int(entry.name)
        elif b"kafka.Kafka" in args:
            found["broker"] = int(entry.name)
    return found


def memory_mb(pid: int) -> dict[str, float]:
    """Current (VmRSS) and lifetime peak (VmHWM) resident memory."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], total


class Sampler:
    """CPU seconds and peak RSS of named processes over one step (RSS sampled every 0.2 s),
    and the CPU seconds of the servers beside them (database and broker, with every
    process they run)."""

    def __init__(self, pids: dict[str, int], servers: dict[str, int] | None = None) -> None:
        self.pids = pids
        self.servers = servers or {}
        self.cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.server0 = {name: tree_cpu_seconds(pid) for name, pid in self.servers.items()}
        self.peak = dict.fromkeys(pids, 0.0)
        self.ticks0 = machine_ticks()
        self.started = time.monotonic()

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], memory_mb(pid).get("VmRSS", 0.0))
            await asyncio.sleep(0.2)

    def finish(self) -> dict[str, Any]:
        """The figures of the step."""
        wall = time.monotonic() - self.started
        busy, total = (a - b for a, b in zip(machine_ticks(), self.ticks0, strict=True))
        procs = {}
        for name, pid in self.pids.items():
            cpu = cpu_seconds(pid) - self.cpu0[name]
            procs[name] = {
                "cpu_s": round(cpu, 2),
                "cpu_share_of_one_core": round(cpu / wall, 3),
                "peak_rss_mb": round(self.peak[name], 1),
                "lifetime_peak_rss_mb": round(memory_mb(pid).get("VmHWM", 0.0), 1),
            }
        for name, pid in self.servers.items():
            cpu = tree_cpu_seconds(pid) - self.server0[name]
            procs[name] = {"cpu_s": round(cpu, 2), "cpu_share_of_one_core": round(cpu / wall, 3)}
        share = round(busy / total, 3) if total else 0.0  # no clock tick yet: nothing measured
        return {"wall_s": round(wall, 1), "machine_cpu_busy": share, **procs}


# ---------------------------------------------------------------- alerts over SMTP

_REFERENCE = re.compile(rb"^X-VRP-Referral:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


class AlertClock:
    """aiosmtpd handler: wall-clock arrival of the first alert per X-VRP-Referral."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Record the arrival; accept the message."""
        now = time.time()
        self.messages += 1
        match = _REFERENCE.search(envelope.content)
        if match:
            self.first.setdefault(match.group(1).decode(), now)
        return "250 OK"


def smtp_sink(port: int) -> tuple[Controller, AlertClock]:
    """A started aiosmtpd server on 127.0.0.1:port (its own thread) and its clock."""
    clock = AlertClock()
    controller = Controller(clock, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, clock


# ---------------------------------------------------------------- Kafka


def provision(admin: Settings, namespace: str) -> dict[str, dict[str, str]]:
    """VRP_KAFKA_* per role, as this run's own principals (`<namespace>-vrp-intake`, ...:
    the services' grants on the run's namespace only; the real `vrp-*` users are never
    touched). bench.broker.release revokes them."""
    env = {"VRP_KAFKA_SECURITY_PROTOCOL": admin.kafka_security_protocol.value}
    if admin.kafka_security_protocol is KafkaSecurity.PLAINTEXT:
        return {role: dict(env) for role in ROLES}
    prefix = principal_prefix(namespace)
    access = Access(confluent_options(admin), namespace)
    passwords = access.provision_services(principal_prefix=prefix)
    users = {role: f"{prefix}vrp-{role}" for role in ROLES}
    return {
        role: env | {"VRP_KAFKA_USERNAME": user, "VRP_KAFKA_PASSWORD": passwords[user]}
        for role, user in users.items()
    }


async def wait_for_login(admin: Settings, env: dict[str, str], topic: str) -> None:
    """Until a bench user can log in and read `topic` (new credentials take a moment)."""
    if "VRP_KAFKA_USERNAME" not in env:
        return
    from pydantic import SecretStr

    user = admin.model_copy(
        update={
            "kafka_username": env["VRP_KAFKA_USERNAME"],
            "kafka_password": SecretStr(env["VRP_KAFKA_PASSWORD"]),
        }
    )
    await asyncio.sleep(2)  # new credentials and ACLs take a moment to reach the broker
    deadline = time.monotonic() + 60
    while True:
        client = AIOKafkaAdminClient(**aiokafka_options(user), request_timeout_ms=5000)
        try:
            await client.start()
            [described] = await client.describe_topics([topic])
            if described.get("error_code") == 0:
                return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
        finally:
            await client.close()
        await asyncio.sleep(0.5)


async def _latest(options: dict[str, Any], topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    await consumer.position(tp)
    return consumer


async def two_hops(
    options: dict[str, Any], hop1: str, hop2: str, rate: float, secs: float
) -> list[float]:
    """Baseline: open-loop produce to hop1 -> a relay consumes and produces to hop2 -> a
    sink consumes; latency from the scheduled send. Producers as the services' relay
    (idempotent, acks=all, linger 2 ms); 1-partition topics; admin login."""
    producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True, linger_ms=2)
    await producer.start()
    relay_in, sink = await _latest(options, hop1), await _latest(options, hop2)
    n, got = int(rate * secs), dict[float, float]()

    async def relay() -> None:
        while True:
            batch = await relay_in.getmany(timeout_ms=100)
            for records in batch.values():
                for rec in records:
                    await producer.send(hop2, rec.value)

    async def drain() -> None:
        while len(got) < n:
            batch = await sink.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                got.update((float(rec.value), now) for rec in records)

    tasks = [asyncio.create_task(relay()), asyncio.create_task(drain())]
    try:
        start = time.time() + 0.05
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i / rate - time.time()))
            await producer.send(hop1, repr(start + i / rate).encode())
        await asyncio.wait_for(tasks[1], timeout=30)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await relay_in.stop()
        await sink.stop()
        await producer.stop()
    return [got[t] - t for t in got]
