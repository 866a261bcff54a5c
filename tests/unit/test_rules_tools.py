"""`vrp rules check|explain|simulate` and hot reload, as a configuration author uses them."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from services.commands.simulate import simulate
from services.router.routing import route
from testkit.cli import vrp
from testkit.referrals import EXAMPLE, example
from vrp.config_files import load_configuration
from vrp.configuration_watch import LiveConfiguration
from vrp.domain.geography import area_for
from vrp.domain.identifiers import new_id
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.progress import reporter
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database
from vrp.store.unit import unit_of_work


def copy_demo(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    return target


def test_check_reports_errors_with_file_and_line(tmp_path: Path) -> None:
    config = copy_demo(tmp_path)
    rules = config / "rules.yaml"
    text = rules.read_text().replace(
        "interventions: [through-the-gate]", "interventions: [through-the-gait]"
    )
    rules.write_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "through-the-gait" in t)
    result = vrp("rules", "check", str(config))
    assert result.returncode == 1
    assert f"rules.yaml:{line}: rule 'prison-release': unknown intervention 'through-the-gait'" in (
        result.stdout
    )


def test_check_reports_type_errors_with_file_and_line(tmp_path: Path) -> None:
    config = copy_demo(tmp_path)
    path = config / "interventions.yaml"
    text = path.read_text().replace("acceptance_sla_hours: 72", "acceptance_sla_hours: soon", 1)
    path.write_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "soon" in t)
    result = vrp("rules", "check", str(config))
    assert result.returncode == 1
    assert f"interventions.yaml:{line}: interventions." in result.stdout
    assert "acceptance_sla_hours" in result.stdout


def test_check_warns_about_unreachable_interventions_and_expiring_agreements() -> None:
    result = vrp("rules", "check", str(DEMO_CONFIG_DIR), "--on", "2027-03-10")
    assert result.returncode == 0
    assert "intervention 'youth-justice-early-help': no organisation can lawfully refer" in (
        result.stdout
    )
    assert "agreement 'isa-fire-youth' v1 expires on 2027-03-31" in result.stdout


def test_check_warns_about_a_rule_that_can_never_fire(tmp_path: Path) -> None:
    config = copy_demo(tmp_path)
    rules = config / "rules.yaml"
    rules.write_text(
        rules.read_text().replace(
            "when: {reasons_any: [prison-release], source_kinds: [probation]}",
            "when: {reasons_any: [prison-release], source_kinds: [probation], max_age: 17}",
        )
    )
    result = vrp("rules", "check", str(config))
    assert "rule 'prison-release' can never route anyone" in result.stdout


def test_explain_prints_the_decision_and_exactly_what_each_recipient_gets() -> None:
    result = vrp(
        "rules",
        "explain",
        str(DEMO_CONFIG_DIR),
        str(EXAMPLE),
        "--from",
        "uhb",
        "--on",
        "2026-11-25",
    )
    assert result.returncode == 0, result.stderr
    assert "navigators-birmingham (rule ae-youth-violence): chosen" in result.stdout
    assert "-> navigators via isa-ae-navigators v2 flow ae-to-navigators" in result.stdout
    assert '"subject.date_of_birth": "16-17"' in result.stdout
    assert "9434765919" not in result.stdout


def test_hot_reload_takes_a_valid_change_and_refuses_an_invalid_one(tmp_path: Path) -> None:
    config = copy_demo(tmp_path)
    live = LiveConfiguration(config)
    first = live().version
    path = config / "agreements.yaml"
    path.write_text(path.read_text().replace("status: suspended", "status: active"))
    assert live.reload_if_changed()
    second = live().version
    assert second != first
    path.write_text(path.read_text() + "\n  - id: broken\n")
    assert not live.reload_if_changed()
    assert live().version == second


async def test_simulate_reports_what_a_new_configuration_would_change(
    tmp_path: Path, sqlite_db: Database
) -> None:
    demo = load_configuration(DEMO_CONFIG_DIR)
    key = b"k"
    for n in range(5):
        sub = ReferralSubmission.model_validate(example())
        referral = Referral(
            id=str(new_id()),
            source_org="uhb",
            received_at="2026-11-25T09:00:00+00:00",
            local_authority=area_for(sub.subject.postcode),
            submission=sub,
        )
        async with unit_of_work(sqlite_db) as unit:
            await route(unit, demo, key, referral, f"event-{n}")
    changed = copy_demo(tmp_path)
    path = changed / "agreements.yaml"
    path.write_text(
        path.read_text().replace(
            "title: A&E departments to youth violence navigators\n    status: active",
            "title: A&E departments to youth violence navigators\n    status: suspended",
        )
    )
    report = await simulate(sqlite_db, load_configuration(changed), key)
    assert (report.replayed, report.changed) == (5, 5)
    assert report.transitions == {"routed -> held": 5}
    assert report.lost["navigators-birmingham"] == 5
    assert report.reasons["agreement-suspended"] == 5
    text = report.render()
    assert "routed -> held" in text and "agreement-suspended" in text
    seen: list[tuple[int, int]] = []
    same = await simulate(sqlite_db, demo, key, batch=2, progress=lambda *p: seen.append(p))
    assert same.changed == 0
    # A long replay shows it moving: every batch reported, ending at the total.
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_progress_is_throttled_but_always_shows_the_end() -> None:
    out, now = io.StringIO(), [0.0]
    report = reporter("decisions replayed", out, every=1.0, clock=lambda: now[0])
    for done in range(0, 2001, 500):
        report(done, 2000)
        now[0] += 0.4
    assert out.getvalue().splitlines() == [
        "decisions replayed: 0 of 2,000 (0 %)",
        "decisions replayed: 1,500 of 2,000 (75 %)",
        "decisions replayed: 2,000 of 2,000 (100 %)",
    ]


def test_check_refuses_alert_channels_without_contact_template_or_secret(tmp_path: Path) -> None:
    config = copy_demo(tmp_path)
    orgs = config / "organisations.yaml"
    demo_orgs = orgs.read_text()
    orgs.write_text(
        demo_orgs.replace(
            "    contacts: {email: referrals@navigators.example}",
            "    contacts:\n      email: referrals@navigators.example\n"
            "      webhook: {url: 'https://navigators.example/hooks', secrets: []}",
        )
    )
    line = next(n for n, t in enumerate(orgs.read_text().splitlines(), 1) if "secrets: []" in t)
    result = vrp("rules", "check", str(config))
    assert result.returncode == 1
    assert f"organisations.yaml:{line}: organisations.12.contacts.webhook.secrets" in result.stdout

    orgs.write_text(demo_orgs)
    path = config / "interventions.yaml"
    text = path.read_text().replace(
        "    required_items: [subject.name, subject.contact]\n",
        "    required_items: [subject.name, subject.contact]\n"
        "    channels: [email, sms]\n"
        "    fallback: navigators-nowhere\n",
        1,
    )
    path.write_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "channels: [email, sms]" in t)
    fallback = next(n for n, t in enumerate(text.splitlines(), 1) if "navigators-nowhere" in t)
    result = vrp("rules", "check", str(config))
    assert result.returncode == 1
    out = result.stdout
    assert f"interventions.yaml:{line}: channel sms: organisation 'navigators' has no sms" in out
    assert (
        f"interventions.yaml:{line}: channel sms goes through GOV.UK Notify: "
        "notify.templates.new-referral.sms is missing"
    ) in out
    assert "notify.templates.reminder.sms is missing" in out
    assert f"interventions.yaml:{fallback}: intervention 'navigators-birmingham': fallback" in out


def test_check_refuses_fhir_updates_without_an_endpoint_and_fhir_as_an_alert_channel(
    tmp_path: Path,
) -> None:
    config = copy_demo(tmp_path)
    orgs = config / "organisations.yaml"
    orgs.write_text(orgs.read_text().replace("    updates: [email]", "    updates: [email, fhir]"))
    line = next(n for n, t in enumerate(orgs.read_text().splitlines(), 1) if "fhir]" in t)
    result = vrp("rules", "check", str(config))
    assert result.returncode == 1
    assert (
        f"organisations.yaml:{line}: channel fhir: organisation 'uhb' has no fhir" in result.stdout
    )

    # A FHIR reply answers a referrer's message: no team is alerted that way.
    path = config / "interventions.yaml"
    path.write_text(
        path.read_text().replace(
            "    required_items: [subject.name, subject.contact]\n",
            "    required_items: [subject.name, subject.contact]\n    channels: [fhir]\n",
            1,
        )
    )
    result = vrp("rules", "check", str(config))
    assert result.returncode == 1
    assert "channels.0: Input should be 'email', 'sms' or 'webhook'" in result.stdout
