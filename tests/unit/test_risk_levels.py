"""A partnership's own risk levels: add (`low`), remove or relabel, each with an urgency
that alerts state; the API's vocabularies and OpenAPI document follow the codes loaded."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from services.demo import demo_key
from services.notifier.channels import Alert
from services.notifier.emails import wording
from services.router.handler import RouterHandler
from testkit.partner import assert_problem, bearer, post_referral, submit
from testkit.referrals import example
from testkit.rules import config, facts
from testkit.runtime import Served, runtime_settings, serving, sqlite_url
from vrp.config_files import ConfigurationError, load_configuration
from vrp.domain.configuration import Match
from vrp.domain.engine import matches
from vrp.domain.referral import ReferralSubmission
from vrp.events.commands import OfferReferral, OfferReferralV1
from vrp.events.models import ReferralReceived, ReferralReceivedV1
from vrp.settings import DEMO_CONFIG_DIR

LOW = {"risk_levels": {"add": {"low": "Low risk"}, "urgency": {"low": "routine"}}}


def with_low(tmp_path: Path) -> Path:
    """The demo partnership with its own `low` risk level, and high as urgent only."""
    target = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    path = target / "vocabularies.yaml"
    document = yaml.safe_load(path.read_text())
    document["vocabularies"]["risk_levels"] = {
        "add": {"low": "Low risk (our partnership's code)"},
        "urgency": {"low": "routine", "high": "urgent"},
    }
    path.write_text(yaml.safe_dump(document))
    return target


def test_an_added_risk_level_is_a_code_with_its_urgency() -> None:
    c = config(vocabularies=LOW)
    assert c.codes.codes["risk_levels"]["low"] == "Low risk"
    assert c.codes.urgency_of("low") == "routine"
    assert c.codes.urgency_of("medium") == "urgent"  # national codes keep theirs
    submission = ReferralSubmission.model_validate(example(risk="low"))
    assert submission.check_codes(c.codes) == []
    assert submission.check_codes(config().codes) == [
        ("risk", "is not a code in the 'risk-levels' vocabulary")
    ]
    assert matches(Match(risks=["low"]), facts(risk="low"))
    assert not matches(Match(risks=["low"]), facts(risk="high"))


def test_changing_an_urgency_changes_the_configuration_version() -> None:
    urgent_high = {"risk_levels": {"urgency": {"high": "urgent"}}}
    assert config(vocabularies=urgent_high).version != config().version


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"risk_levels": {"add": {"low": "Low"}}}, "risk level 'low' needs an urgency"),
        (
            {"risk_levels": {"add": {"low": "Low"}, "urgency": {"low": "whenever"}}},
            "Input should be 'routine', 'urgent' or 'immediate'",
        ),
        (
            {"risk_levels": {"urgency": {"lowish": "routine"}}},
            "'lowish' is not a risk level in force",
        ),
        ({"reasons": {"urgency": {"knife-crime": "urgent"}}}, "only risk levels have one"),
        ({"risk_levels": {"replace": {}}}, "at least one risk level is needed"),
    ],
)
def test_an_urgency_that_cannot_be_honoured_is_refused(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        config(vocabularies=change)


def test_removing_a_risk_level_a_rule_uses_names_file_and_line(tmp_path: Path) -> None:
    directory = with_low(tmp_path)
    path = directory / "vocabularies.yaml"
    document = yaml.safe_load(path.read_text())
    document["vocabularies"]["risk_levels"]["remove"] = ["high"]
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigurationError) as raised:
        load_configuration(directory)
    rules = (directory / "rules.yaml").read_text().splitlines()
    line = next(n for n, t in enumerate(rules, 1) if "risks: [high]" in t)
    assert (
        f"{directory / 'rules.yaml'}:{line}: rule 'high-risk-domestic-abuse': "
        "unknown risk level 'high' (it was removed by vocabularies.risk_levels)"
    ) in raised.value.problems


def test_alerts_say_the_urgency_and_the_risk_level() -> None:
    alert = Alert(
        id="n1",
        kind="new-referral",
        channel="email",
        organisation="navigators",
        organisation_name="Navigators",
        address="team@navigators.example",
        referral_id="r1",
        reference="VRP-1",
        link="http://x/r1",
        urgency="routine",
        risk="low",
    )
    assert wording(alert)[1].endswith("Urgency: routine (risk level low).")
    assert alert.fields()["urgency"] == "routine" and alert.fields()["risk"] == "low"


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[Served]:
    settings = runtime_settings(
        sqlite_url(tmp_path), mail_dir=tmp_path / "mail", config_dir=with_low(tmp_path)
    )
    async with serving(settings) as served:
        yield served


async def test_the_api_takes_and_documents_the_codes_loaded(system: Served) -> None:
    vocabularies = (await system.client.get("/v1/vocabularies")).json()
    assert vocabularies["risk-levels"]["codes"] == {
        "low": "Low risk (our partnership's code)",
        "standard": "Standard risk",
        "medium": "Medium risk",
        "high": "High risk",
    }
    document = (await system.client.get("/openapi.json")).json()
    risk = document["components"]["schemas"]["ReferralSubmission"]["properties"]["risk"]
    assert risk["enum"] == ["high", "low", "medium", "standard"]
    uhb = bearer(demo_key("uhb"))
    await submit(system.client, uhb, body=example(risk="low"))
    refused = await post_referral(system.client, uhb, body=example(risk="extreme"))
    assert_problem(refused, 422, "risk")


def test_v1_events_left_on_the_topic_are_still_read_and_v2_carries_own_codes() -> None:
    table = RouterHandler(lambda: config(), b"k").handlers()
    for model in (ReferralReceived, ReferralReceivedV1, OfferReferral, OfferReferralV1):
        assert model.TYPE in table
    referral = {
        "id": "r1",
        "source_org": "uhb",
        "received_at": "2026-12-07T10:00:00+00:00",
        "local_authority": None,
        "submission": example(risk="low"),
    }
    assert ReferralReceived.model_validate({"referral": referral}).referral.submission.risk == "low"
    with pytest.raises(ValueError, match="risk"):
        ReferralReceivedV1.model_validate({"referral": referral})  # v1 was national only
