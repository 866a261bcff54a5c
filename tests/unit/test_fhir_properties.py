"""Properties of the FHIR door (hypothesis): any referral the JSON API accepts, written as a
BaRS message, is read back to the same referral, so it gets the same decision and the same
minimised payloads; and no malformed message, however broken, gets a server error."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.demo import demo_key
from services.intake.fhir_messages import submission_of
from testkit import fhir
from testkit.draws import DEMO, EXAMPLES, KEY, SETTINGS, TODAY, facts_of, referrals
from testkit.partner import bearer
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.domain.engine import decide
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.domain.vocabulary import Sex
from vrp.fhir import inbound

BASE = "https://vrp.example/fhir"
PURPOSES = sorted({i.purpose for i in DEMO.interventions})


@SETTINGS
@given(
    data=st.data(),
    sex=st.sampled_from([None, *Sex]),
    recorded=st.sampled_from([None, "2026-11-20"]),
)
def test_a_referral_as_a_message_reads_back_the_same_and_is_decided_the_same(
    data: st.DataObject, sex: Sex | None, recorded: str | None
) -> None:
    referral = data.draw(referrals(DEMO))
    body = referral.submission.model_dump(mode="json", exclude_none=True)
    if sex is not None:
        body["subject"]["sex"] = sex.value
    if recorded is not None:
        body["consent"]["recorded_on"] = recorded
    expected = ReferralSubmission.model_validate(body)
    category = data.draw(st.sampled_from(PURPOSES))
    raw = json.dumps(fhir.message(body, BASE, category)).encode()
    message = inbound.read(raw, BASE)
    assert message.category == category
    read = submission_of(message, DEMO, TODAY)
    assert read == expected
    as_json = referral.model_copy(update={"submission": expected})
    as_fhir = Referral.model_validate(as_json.model_dump() | {"submission": read})
    d_json = decide(facts_of(as_json, DEMO, {}), DEMO, KEY, as_json)
    d_fhir = decide(facts_of(as_fhir, DEMO, {}), DEMO, KEY, as_fhir)
    event(f"{d_json.outcome}, {len(d_json.recipients)} recipient(s)")
    assert d_fhir == d_json
    assert [r.payload for r in d_fhir.recipients] == [r.payload for r in d_json.recipients]


# --------------------------------------------------------------- malformed messages, over HTTP

Path = tuple[str | int, ...]


def _paths(node: Any, at: Path = ()) -> list[Path]:
    found = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*at, i))
    return found


def _parent(doc: Any, path: Path) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=20),
    st.lists(st.none(), max_size=2),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
    st.sampled_from(["Patient", "Bundle", "urn:uuid:x", "2026-02-30", "", "message"]),
)


@st.composite
def broken(draw: st.DrawFn) -> dict[str, Any]:
    """The example message with one to four things broken: an element removed, replaced by
    something of another type, or an entry dropped, duplicated or moved."""
    doc = fhir.example(BASE)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["remove", "replace", "entries"]))
        parent = _parent(doc, path)
        if how == "entries" and isinstance(doc.get("entry"), list) and doc["entry"]:
            entries = doc["entry"]
            n = draw(st.integers(0, len(entries) - 1))
            move = draw(st.sampled_from(["drop", "twice", "first"]))
            item = entries.pop(n)
            if move != "drop":
                entries.insert(0 if move == "first" else n, item)
                if move == "twice":
                    entries.append(copy.deepcopy(item))
        elif how == "remove":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JUNK)
    event(f"{len(json.dumps(doc)) // 1000} kB")
    return doc


@pytest.fixture(scope="module")
async def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    tmp = tmp_path_factory.mktemp("fhir-properties")
    config = runtime_settings(sqlite_url(tmp), mail_dir=tmp / "mail")
    config = config.model_copy(
        update={"rate_limit_per_second": 100000.0, "rate_limit_burst": 100000.0}
    )
    async with serving(config) as s:
        yield s.client, f"{config.public_url}/fhir"


@settings(
    max_examples=max(EXAMPLES // 3, 20),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
async def test_no_malformed_message_gets_a_server_error(
    served: tuple[httpx.AsyncClient, str], data: st.DataObject
) -> None:
    client, base = served
    doc = data.draw(broken())
    text = json.dumps(doc).replace(BASE, base)
    headers = fhir.headers(bearer(demo_key("uhb")), str(uuid.uuid4()))
    r = await client.post("/fhir/$process-message", content=text.encode(), headers=headers)
    event(str(r.status_code))
    assert r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    kind = r.json()["resourceType"]
    assert kind == ("Bundle" if r.status_code == 200 else "OperationOutcome")
