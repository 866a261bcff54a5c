"""Intake's connection-level limits, attacked over raw TCP on loopback as a hostile client
would: oversized and too many headers (431), slow headers and bodies (408), too many
connections or requests at once (503), and requests that are not valid HTTP (400), every
answer problem+json, and /health still answering afterwards."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.demo import demo_key
from testkit.runtime import runtime_settings, serving, sqlite_url

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
MAX_CONNECTIONS = 40
MAX_IN_FLIGHT = 4


@dataclass
class Edge:
    client: httpx.AsyncClient
    port: int


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    seconds: float


@pytest.fixture(scope="module")
async def edge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Edge]:
    tmp = tmp_path_factory.mktemp("edge")
    settings = runtime_settings(
        sqlite_url(tmp),
        mail_dir=tmp / "mail",
        header_timeout_seconds=HEADER_TIMEOUT,
        body_timeout_seconds=BODY_TIMEOUT,
        max_header_bytes=8192,
        max_headers=50,
        max_connections=MAX_CONNECTIONS,
        max_in_flight=MAX_IN_FLIGHT,
    )
    async with serving(settings, ("intake",)) as served:
        yield Edge(served.client, settings.port)


async def healthy(edge: Edge) -> None:
    r = await edge.client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def parse(raw: bytes, started: float) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    return Answer(status, headers, json.loads(body), time.monotonic() - started)


async def exchange(port: int, *chunks: bytes, pause: float = 0.0) -> Answer:
    """Send the chunks (pausing between them) until the server answers and closes."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answered = asyncio.create_task(reader.read())  # done once the server ends its side
    try:
        for chunk in chunks:
            if answered.done():
                break
            writer.write(chunk)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)
        raw = await asyncio.wait_for(answered, timeout=10)
    finally:
        writer.close()
    return parse(raw, started)


def problem(answer: Answer, status: int) -> dict[str, Any]:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["connection"] == "close"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.body["status"] == status
    return answer.body


def resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_a_huge_header_is_431_without_the_process_growing(edge: Edge) -> None:
    before = resident_kib()
    mib = b"a" * (1024 * 1024)
    # 64 MiB offered in 1 MiB pieces; the server answers after the first and stops reading.
    chunks = [b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ", *([mib] * 64)]
    body = problem(await exchange(edge.port, *chunks), 431)
    assert "8192 bytes" in body["detail"]
    assert resident_kib() - before < 16 * 1024, "the header was buffered"
    await healthy(edge)


async def test_too_many_headers_is_431(edge: Edge) -> None:
    many = b"".join(b"X-H%d: 1\r\n" % i for i in range(60))
    problem(await exchange(edge.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"), 431)
    await healthy(edge)


async def test_headers_sent_a_byte_at_a_time_are_cut_off_with_408(edge: Edge) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 40 + b"\r\n\r\n"
    answer = await exchange(
        edge.port, *(request[i : i + 1] for i in range(len(request))), pause=0.2
    )
    problem(answer, 408)
    assert answer.seconds < HEADER_TIMEOUT + 2
    await healthy(edge)


async def test_a_connection_that_sends_nothing_is_closed_with_408(edge: Edge) -> None:
    answer = await exchange(edge.port)
    problem(answer, 408)
    assert HEADER_TIMEOUT * 0.9 < answer.seconds < HEADER_TIMEOUT + 2
    await healthy(edge)


async def test_a_body_sent_a_byte_at_a_time_is_cut_off_with_408(edge: Edge) -> None:
    head = (
        b"POST /v1/referrals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + demo_key("uhb").encode() + b"\r\n"
        b"Idempotency-Key: slow-body-1\r\nContent-Length: 100\r\n\r\n"
    )
    answer = await exchange(edge.port, head, *([b"{"] * 30), pause=0.25)
    problem(answer, 408)
    assert answer.seconds < HEADER_TIMEOUT + BODY_TIMEOUT + 2
    await healthy(edge)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Cr: a\rb\r\n\r\n",
        b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost x\r\n\r\n",
    ],
    ids=["bad-content-length", "nul-in-header", "bare-cr", "cl-and-te", "no-colon"],
)
async def test_requests_that_are_not_valid_http_get_problem_json(
    edge: Edge, request_bytes: bytes
) -> None:
    body = problem(await exchange(edge.port, request_bytes), 400)
    assert body["type"].endswith("/malformed-request")
    await healthy(edge)


async def test_connections_above_the_cap_are_refused_with_503(edge: Edge) -> None:
    # Opened together: one after another, on a busy machine, the first could reach its
    # header deadline (408) before the last is refused.
    opened = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", edge.port) for _ in range(MAX_CONNECTIONS + 5))
    )
    try:
        reads = [asyncio.create_task(reader.read()) for reader, _ in opened]
        # Well within the header deadline: only the refused ones have answered yet.
        done, held = await asyncio.wait(reads, timeout=HEADER_TIMEOUT / 3)
        for answered in done:
            answer = parse(answered.result(), time.monotonic())
            assert problem(answer, 503) and answer.headers["retry-after"] == "1"
        assert len(done) >= 5 and len(held) >= MAX_CONNECTIONS - 2
        for task in held:
            task.cancel()
    finally:
        for _, writer in opened:
            writer.close()
    await asyncio.sleep(0.1)
    await healthy(edge)


async def test_requests_above_the_in_flight_cap_are_503_but_liveness_answers(edge: Edge) -> None:
    head = (
        b"POST /v1/referrals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + demo_key("uhb").encode() + b"\r\n"
        b"Idempotency-Key: held-%d-key\r\nContent-Length: 100\r\n\r\n{"
    )
    held = []
    try:
        for i in range(MAX_IN_FLIGHT):  # each waits in the app for the rest of its body
            _, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            writer.write(head % i)
            await writer.drain()
            held.append(writer)
        await asyncio.sleep(0.3)
        r = await edge.client.get("/ready")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.headers["content-type"] == "application/problem+json"
        await healthy(edge)
    finally:
        for writer in held:
            writer.close()
    await asyncio.sleep(BODY_TIMEOUT)
    assert (await edge.client.get("/ready")).status_code == 200


async def test_a_console_flood_takes_no_place_the_partner_api_needs(edge: Edge) -> None:
    head = (
        b"POST /console/sign-in HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nu"
    )
    held = []
    try:
        for _ in range(MAX_IN_FLIGHT):  # each waits in the app for the rest of its form
            _, writer = await asyncio.open_connection("127.0.0.1", edge.port)
            writer.write(head)
            await writer.drain()
            held.append(writer)
        await asyncio.sleep(0.3)
        console = await edge.client.get("/console/sign-in")
        assert console.status_code == 503 and console.headers["retry-after"] == "1"
        assert (await edge.client.get("/ready")).status_code == 200  # the API has its places
    finally:
        for writer in held:
            writer.close()
    await asyncio.sleep(BODY_TIMEOUT)
    assert (await edge.client.get("/console/sign-in")).status_code == 200
