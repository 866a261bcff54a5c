"""The load process of bench.intake and bench.fhir: drives one server at a fixed rate (open
loop) or at maximum (closed loop) over keep-alive HTTP/1.1, and prints the result as JSON.

    .venv/bin/python -m bench.http_load --port P --token T --run R --rate 200|max --body F
        [--door json|fhir]

The JSON door POSTs the body F to /v1/referrals with a new Idempotency-Key each time; the
FHIR door POSTs the message Bundle F to /fhir/$process-message with a new X-Request-ID,
every UUID in F (the Bundle's, its entries' and the references to them) replaced by a
fresh one per request, as a sender's system writes each message anew.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
_UUID = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
DOORS = ("json", "fhir")


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


class Fresh:
    """A message template whose UUIDs are replaced by new ones each time: the same UUID by
    the same new one, so that references still resolve."""

    def __init__(self, template: str) -> None:
        parts = _UUID.split(template)  # literal, uuid, literal, uuid, ..., literal
        self.literals = parts[0::2]
        found = parts[1::2]
        distinct = list(dict.fromkeys(found))
        self.slots = [distinct.index(u) for u in found]
        self.count = len(distinct)

    def __call__(self) -> bytes:
        """The template with fresh UUIDs."""
        new = [str(uuid.uuid4()) for _ in range(self.count)]
        out = [self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            out += (new[slot], literal)
        return "".join(out).encode()


def request_stream(
    port: int, token: str, run: str, body: bytes, door: str = "json"
) -> Iterator[bytes]:
    """The raw requests of one step: each with its own key (and, for FHIR, its own ids)."""
    fresh: Callable[[], bytes] = Fresh(body.decode()) if door == "fhir" else lambda: body
    head = (
        "POST /fhir/$process-message HTTP/1.1\r\nContent-Type: application/fhir+json\r\n"
        "X-Request-ID: bench-{run}-{i:09d}\r\n"
        if door == "fhir"
        else "POST /v1/referrals HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Idempotency-Key: bench-{run}-{i:09d}\r\n"
    )
    i = 0
    while True:
        i += 1
        raw = fresh()
        yield (
            head.format(run=run, i=i) + f"Host: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(raw)}\r\n\r\n"
        ).encode() + raw


async def _pool(port: int, size: int) -> asyncio.Queue[Connection]:
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(size):
        pool.put_nowait(Connection(port))
    return pool


EXPECTED = {"json": b'"status_url"', "fhir": b'"servicerequest-response"'}
"""What every 2xx answer of a door carries: the status URL; the BaRS response message."""


class Tally:
    """Answers by HTTP status, and 2xx answers without what the door's answer carries."""

    def __init__(self, door: str) -> None:
        self.expected = EXPECTED[door]
        self.statuses: Counter[int] = Counter()
        self.odd_2xx = 0

    def count(self, status: int, body: bytes) -> None:
        """One answer."""
        self.statuses[status] += 1
        if 200 <= status < 300 and self.expected not in body:
            self.odd_2xx += 1

    @property
    def ok(self) -> int:
        """The 2xx answers."""
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)


def _summary(latencies: list[float], tally: Tally, elapsed: float) -> dict[str, Any]:
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0
        )

    ok = tally.ok
    return {
        "throughput": ok / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "ok": ok,
        "errors": sum(tally.statuses.values()) - ok,
        "statuses": {str(s): n for s, n in sorted(tally.statuses.items())},
        "odd_2xx": tally.odd_2xx,
    }


async def fixed_rate(
    port: int, requests: Iterator[bytes], rate: float, duration: float, door: str = "json"
) -> dict[str, Any]:
    """Open loop: send at `rate` regardless of answers; latency from the scheduled time."""
    pool = await _pool(port, 128)
    latencies: list[float] = []
    tally = Tally(door)
    last_done = 0.0

    async def one(raw: bytes, scheduled: float) -> None:
        nonlocal last_done
        conn = await pool.get()
        try:
            status, body = await conn.request(raw)
        finally:
            pool.put_nowait(conn)
        done = time.perf_counter()
        last_done = max(last_done, done)
        latencies.append(done - scheduled)
        tally.count(status, body)

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
    return _summary(latencies, tally, last_done - start)


async def closed_loop(
    port: int, requests: Iterator[bytes], concurrency: int, duration: float, door: str = "json"
) -> dict[str, Any]:
    """Max: `concurrency` clients, each sending its next request when answered."""
    latencies: list[float] = []
    tally = Tally(door)
    conns = [Connection(port) for _ in range(concurrency)]
    start = time.perf_counter()
    stop_at = start + duration

    async def client(conn: Connection) -> None:
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            status, body = await conn.request(next(requests))
            latencies.append(time.perf_counter() - sent)
            tally.count(status, body)

    await asyncio.gather(*(client(c) for c in conns))
    return _summary(latencies, tally, time.perf_counter() - start)


async def load_main(args: argparse.Namespace) -> None:
    """The load process: one step, result as JSON on stdout (with the warm-up's answers:
    its 2xx are referrals too)."""
    body = Path(args.body).read_bytes()
    requests = request_stream(args.port, args.token, args.run, body, args.door)
    # Warm up connections, caches and the database's plans.
    warmup = await fixed_rate(args.port, requests, 100, 1.0, args.door)
    if args.rate == "max":
        result = await closed_loop(args.port, requests, args.concurrency, args.duration, args.door)
    else:
        result = await fixed_rate(args.port, requests, float(args.rate), args.duration, args.door)
    keep = ("ok", "errors", "statuses", "odd_2xx")
    result["warmup"] = {k: warmup[k] for k in keep}
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
    p.add_argument("--door", choices=DOORS, default="json")
    args = p.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(load_main(args))
    else:
        uvloop.run(load_main(args))


if __name__ == "__main__":
    main()
