"""Hostile request bodies through real HTTP: unknown member names (never echoed, answers
capped), malformed JSON, other encodings and media types, and text that hides or
disguises what a reader sees; every answer problem+json and /health still answering."""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.demo import demo_key
from testkit.partner import assert_problem, bearer, post_referral, submit
from testkit.referrals import example
from testkit.runtime import Served, runtime_settings, serving, sqlite_url
from vrp.store.tables import referrals

UHB = bearer(demo_key("uhb"))
MAX_ERRORS = 20


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    tmp = tmp_path_factory.mktemp("bodies")
    settings = runtime_settings(sqlite_url(tmp), mail_dir=tmp / "mail")
    async with serving(settings, ("intake",)) as running:
        yield running


@pytest.fixture
def client(served: Served) -> httpx.AsyncClient:
    return served.client


async def healthy(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200


async def raw_post(
    client: httpx.AsyncClient, content: bytes, content_type: str = "application/json"
) -> httpx.Response:
    headers = {
        **UHB,
        "Idempotency-Key": f"raw-{uuid.uuid4().hex}",
        "Content-Type": content_type,
    }
    return await client.post("/v1/referrals", content=content, headers=headers)


PERSONAL = "Alex Fictional 9434765919"


async def test_unknown_member_names_are_never_echoed_and_the_answer_is_capped(
    client: httpx.AsyncClient,
) -> None:
    body = example()
    body["subject"][PERSONAL] = "x"
    body["n" * 20_000] = 1  # the whole body stays within the 64 KiB body limit
    for i in range(2_000):
        body[f"u{i}"] = i
    r = await post_referral(client, UHB, body=body)
    problem = assert_problem(r, 422)
    assert len(r.content) < 8_000, f"{len(r.content)} bytes"
    assert len(problem["errors"]) == MAX_ERRORS
    assert "2002 problem(s)" in problem["detail"] and "more not listed" in problem["detail"]
    assert PERSONAL not in r.text and "9434765919" not in r.text and "nnnnn" not in r.text
    assert all(len(e["field"]) <= 200 for e in problem["errors"])
    await healthy(client)


async def test_a_json_syntax_error_is_400_for_the_body_not_a_byte_offset(
    client: httpx.AsyncClient,
) -> None:
    r = await raw_post(client, b'{"referrer": {"name": "Sam", }')
    problem = assert_problem(r, 400)
    assert [e["field"] for e in problem["errors"]] == ["(body)"]
    await healthy(client)


@pytest.mark.parametrize(
    ("encoding", "content_type", "status"),
    [
        ("utf-8-sig", "application/json", 400),
        ("utf-16", "application/json", 400),
        ("utf-16-le", "application/json", 400),
        ("utf-32", "application/json", 400),
        ("latin-1", "application/json", 400),
        ("utf-8", "text/plain", 415),
        ("utf-8", "application/x-www-form-urlencoded", 415),
        ("utf-8", "", 415),
    ],
    ids=["bom", "utf-16", "utf-16-no-bom", "utf-32", "latin-1", "text", "form", "none"],
)
async def test_only_utf8_application_json_is_accepted(
    client: httpx.AsyncClient, encoding: str, content_type: str, status: int
) -> None:
    body = example()
    body["subject"]["given_name"] = "Zoë"  # outside ASCII, so latin-1 differs from UTF-8
    encoded = json.dumps(body, ensure_ascii=False).encode(encoding)
    problem = assert_problem(await raw_post(client, encoded, content_type), status)
    # One documented shape for every encoding: type, title, status, detail and the errors
    # naming what is wrong (the body, or its Content-Type).
    assert set(problem) == {"type", "title", "status", "detail", "instance", "errors"}, problem
    if status == 400:
        assert problem["type"].endswith("/malformed-request"), problem
        assert [e["field"] for e in problem["errors"]] == ["(body)"], problem
    await healthy(client)


@pytest.mark.parametrize("born", ["2008-04-01T10:00:00", "2008-04-01T00:00:00", "2008-04-01 "])
async def test_a_date_of_birth_must_be_a_date_alone(client: httpx.AsyncClient, born: str) -> None:
    body = example()
    body["subject"]["date_of_birth"] = born
    problem = assert_problem(await post_referral(client, UHB, body=body), 422)
    assert [e["field"] for e in problem["errors"]] == ["subject.date_of_birth"], problem
    assert born not in json.dumps(problem)


async def test_every_answer_says_nosniff(client: httpx.AsyncClient) -> None:
    answers = [
        await post_referral(client, UHB),  # the API
        await client.get("/v1/referrals/none", headers=UHB),  # its problem+json
        await client.get("/v1/inbox"),  # unauthenticated
        await client.get("/console/sign-in"),
        await client.get("/console/inbox"),  # a redirect to sign in
        await client.get("/console/static/console.css"),
        await client.get("/docs"),
        await client.get("/openapi.json"),
        await client.get("/health"),
        await client.get("/metrics"),
        await client.get("/no/such/page"),
        await raw_post(client, b"x" * 70_000),  # refused by the body limit, before the app
    ]
    for r in answers:
        assert r.headers.get("x-content-type-options") == "nosniff", (r.url, r.status_code)
    statuses = [r.status_code for r in answers]
    assert statuses == [202, 404, 401, 200, 303, 200, 200, 200, 200, 200, 404, 413], statuses


async def test_utf8_json_with_a_charset_parameter_is_accepted(client: httpx.AsyncClient) -> None:
    r = await raw_post(client, json.dumps(example()).encode(), "application/json; charset=utf-8")
    assert r.status_code == 202, r.text


HIDDEN = {
    "control character": "Al\x07ex",
    "escape sequence": "Alex\x1b[31m",
    "line break in a name": "Alex\nFictional",
    "right-to-left override": "Alex\u202etsil",
    "left-to-right isolate": "\u2066Alex\u2069",
    "zero-width spaces only": "\u200b\u200b",
    "invisible separator and joiner only": "\u2063\u200d",
    "hangul filler only": "\u3164",
    "unpaired surrogate": "Alex\ud800",
}


@pytest.mark.parametrize("value", list(HIDDEN.values()), ids=list(HIDDEN))
async def test_text_that_hides_what_a_reader_sees_is_refused_naming_the_field(
    client: httpx.AsyncClient, value: str
) -> None:
    body = example()
    body["subject"]["given_name"] = value
    raw = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as \\ud800
    problem = assert_problem(await raw_post(client, raw), 422, "subject.given_name")
    assert value not in json.dumps(problem, ensure_ascii=False)
    await healthy(client)


async def test_prose_may_break_lines_but_names_may_not_hide_characters(
    client: httpx.AsyncClient,
) -> None:
    body = example()
    body["summary"] = "Treated.\nDischarged.\tFollow-up booked."  # prose keeps its breaks
    body["referrer"]["role"] = "A&E \u202enurse"
    problem = assert_problem(await post_referral(client, UHB, body=body), 422)
    assert [e["field"] for e in problem["errors"]] == ["referrer.role"]
    body["referrer"]["role"] = "A&E nurse"
    assert (await post_referral(client, UHB, body=body)).status_code == 202


async def test_text_is_stored_in_nfc(client: httpx.AsyncClient, served: Served) -> None:
    decomposed = "Zoe\u0308 Ange\u0301lique"
    body = example()
    body["subject"]["given_name"] = decomposed
    body["summary"] = "Cafe\u0301 staff called it in."
    accepted = await submit(client, UHB, body=body)
    async with served.runtime.db.engine.connect() as conn:
        stored = (
            await conn.execute(select(referrals.c.body).where(referrals.c.id == accepted["id"]))
        ).scalar_one()
    submission: dict[str, Any] = stored.get("submission", stored)
    assert submission["subject"]["given_name"] == unicodedata.normalize("NFC", decomposed)
    assert submission["subject"]["given_name"] == "Zoë Angélique"
    assert submission["summary"] == "Café staff called it in."
    # The same referral written either way is the same request (replayed, not a conflict).
    composed = {**body, "subject": {**body["subject"], "given_name": "Zoë Angélique"}}
    composed["summary"] = "Café staff called it in."
    key = f"nfc-{uuid.uuid4().hex}"
    await submit(client, UHB, key, body)
    again = await post_referral(client, UHB, key, composed)
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
