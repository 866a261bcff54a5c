"""The load process of bench.e2e: POST /v1/referrals at a fixed rate (open loop), one
record per request written as JSON to --out.

    .venv/bin/python -m bench.e2e_load --port P --tokens F --run R --rate 100 --duration 20
        --seed 1 --out F

Requests are fired on schedule whether or not earlier ones were answered (a connection is
opened when none is idle), so a slow server is charged for its queue: each record carries
the scheduled send time (wall clock, time.time()), the time the answer arrived, the HTTP
status (0 = connection error) and the referral id of a 202. The bodies are the seeded,
fictional mix of bench/workload.py, each sent by its source organisation's key with a
unique Idempotency-Key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.http_load import Connection
from bench.workload import submissions


def requests(port: int, tokens: dict[str, str], run: str, n: int, seed: int) -> list[bytes]:
    """n raw POSTs: the workload mix, each under its organisation's key, unique keys."""
    out = []
    for i, (org, sub) in enumerate(submissions(n, seed)):
        body = json.dumps(sub.model_dump(mode="json", exclude_none=True)).encode()
        head = (
            f"POST /v1/referrals HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {tokens[org]}\r\nIdempotency-Key: e2e-{run}-{i:07d}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def fixed_rate(port: int, raws: list[bytes], rate: float) -> list[list[Any]]:
    """Open loop at `rate`; [scheduled, answered, status, referral id or None] per request."""
    idle: list[Connection] = []
    records: list[list[Any]] = []

    async def one(raw: bytes, scheduled: float) -> None:
        conn = idle.pop() if idle else Connection(port)
        status, body, referral = 0, b"", None
        try:
            status, body = await conn.request(raw)
            idle.append(conn)
        except (OSError, asyncio.IncompleteReadError):
            status = 0
        if status == 202:
            referral = json.loads(body)["id"]
        records.append([scheduled, time.time(), status, referral])

    wall0, start = time.time() + 0.05, time.perf_counter() + 0.05
    tasks = []
    for i, raw in enumerate(raws):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(raw, wall0 + i / rate)))
    await asyncio.gather(*tasks)
    return records


async def load_main(args: argparse.Namespace) -> None:
    """One step: build the requests, send them on schedule, write the records."""
    tokens: dict[str, str] = json.loads(Path(args.tokens).read_text())
    raws = requests(args.port, tokens, args.run, int(args.rate * args.duration), args.seed)
    records = await fixed_rate(args.port, raws, args.rate)
    Path(args.out).write_text(json.dumps(records))


def main() -> None:
    """Run one load step."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tokens", required=True, help="JSON file: organisation -> API key")
    p.add_argument("--run", required=True, help="unique label (part of every Idempotency-Key)")
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(load_main(args))
    else:
        uvloop.run(load_main(args))


if __name__ == "__main__":
    main()
