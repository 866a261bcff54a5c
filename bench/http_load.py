"""The load process of bench.intake: drives one server at a fixed rate (open loop) or at
maximum (closed loop) over keep-alive HTTP/1.1, and prints the result as JSON.

    .venv/bin/python -m bench.http_load --port P --token T --run R --rate 200|max --body F
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


class Connection:
    """A keep-alive HTTP/1.1 connection speaking just enough HTTP for this benchmark."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request; its status and body. Reconnects once if the server closed an
        idle connection (uvicorn's keep-alive timeout)."""
        for attempt in (1, 2):
            if self.reader is None or self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                self.writer.write(raw)
                head = await self.reader.readuntil(b"\r\n\r\n")
                match = _LENGTH.search(head)
                body = await self.reader.readexactly(int(match.group(1))) if match else b""
                return int(head[9:12]), body
            except (asyncio.IncompleteReadError, ConnectionError):
                self.writer.close()
                self.reader = self.writer = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _requests(port: int, token: str, run: str, body: bytes) -> Any:
    i = 0
    while True:
        i += 1
        yield (
            f"POST /v1/referrals HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nIdempotency-Key: bench-{run}-{i:09d}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body


async def _pool(port: int, size: int) -> asyncio.Queue[Connection]:
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(size):
        pool.put_nowait(Connection(port))
    return pool


def _summary(latencies: list[float], ok: int, errors: int, elapsed: float) -> dict[str, Any]:
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0
        )

    return {
        "throughput": ok / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "ok": ok,
        "errors": errors,
    }


async def fixed_rate(port: int, requests: Any, rate: float, duration: float) -> dict[str, Any]:
    """Open loop: send at `rate` regardless of answers; latency from the scheduled time."""
    pool = await _pool(port, 128)
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    last_done = 0.0

    async def one(raw: bytes, scheduled: float) -> None:
        nonlocal last_done
        conn = await pool.get()
        try:
            status, _ = await conn.request(raw)
        finally:
            pool.put_nowait(conn)
        done = time.perf_counter()
        last_done = max(last_done, done)
        latencies.append(done - scheduled)
        counts["ok" if 200 <= status < 300 else "errors"] += 1

    n = int(rate * duration)
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(next(requests), scheduled)))
    await asyncio.gather(*tasks)
    return _summary(latencies, counts["ok"], counts["errors"], last_done - start)


async def closed_loop(
    port: int, requests: Any, concurrency: int, duration: float
) -> dict[str, Any]:
    """Max: `concurrency` clients, each sending its next request when answered."""
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    conns = [Connection(port) for _ in range(concurrency)]
    start = time.perf_counter()
    stop_at = start + duration

    async def client(conn: Connection) -> None:
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            status, _ = await conn.request(next(requests))
            latencies.append(time.perf_counter() - sent)
            counts["ok" if 200 <= status < 300 else "errors"] += 1

    await asyncio.gather(*(client(c) for c in conns))
    return _summary(latencies, counts["ok"], counts["errors"], time.perf_counter() - start)


async def load_main(args: argparse.Namespace) -> None:
    """The load process: one step, result as JSON on stdout."""
    body = Path(args.body).read_bytes()
    requests = _requests(args.port, args.token, args.run, body)
    # Warm up connections, caches and the database's plans.
    await fixed_rate(args.port, requests, 100, 1.0)
    if args.rate == "max":
        result = await closed_loop(args.port, requests, args.concurrency, args.duration)
    else:
        result = await fixed_rate(args.port, requests, float(args.rate), args.duration)
    print(json.dumps(result), flush=True)


def main() -> None:
    """Run one load step."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--rate", default="max")
    p.add_argument("--body", required=True)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--concurrency", type=int, default=32)
    args = p.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(load_main(args))
    else:
        uvloop.run(load_main(args))


if __name__ == "__main__":
    main()
