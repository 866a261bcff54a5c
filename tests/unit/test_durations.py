"""SLA durations in minutes: ISO 8601 or minutes, the older whole-hour keys, the checks that
name the field, and the demo clock that divides them."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.demo import DemoClockRefused, check_demo_clock
from testkit.cli import vrp
from testkit.partnerships import SEVERNSIDE
from vrp.config_files import ConfigurationError, load_configuration
from vrp.domain import sla
from vrp.domain.configuration import Intervention
from vrp.domain.durations import MAXIMUM, format_duration, parse_duration
from vrp.settings import DEMO_CONFIG_DIR

EXAMPLES = int(os.environ.get("VRP_PROPERTY_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("PT30M", 30),
        ("PT2H", 120),
        ("P2D", 2880),
        ("P1DT12H", 2160),
        ("P1W", 10080),
        ("pt5m", 5),
        ("45", 45),
        (90, 90),
    ],
)
def test_iso_8601_durations_and_minutes_are_read(text: str | int, minutes: int) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("PT0M", "longer than zero"),
        (0, "longer than zero"),
        (-5, "longer than zero"),
        ("P", "not a duration"),
        ("PT", "not a duration"),
        ("P1DT", "not a duration"),
        ("PT90S", "not a duration"),  # minutes are the finest grain
        ("P1Y", "not a duration"),  # a year or a month has no fixed length
        ("1.5", "not a duration"),
        ("soon", "not a duration"),
        (True, "ISO 8601"),
        (1.5, "ISO 8601"),
        ("P400D", "at most 366 days"),
        (10**20, "at most 366 days"),
    ],
)
def test_bad_durations_are_refused_with_a_reason(value: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_duration(value)


@SETTINGS
@given(
    st.integers(0, 52),
    st.integers(0, 400),
    st.integers(0, 10_000),
    st.integers(0, 100_000),
)
def test_any_written_duration_reads_as_its_minutes(
    weeks: int, days: int, hours: int, minutes: int
) -> None:
    text = "P" + (f"{weeks}W" if weeks else "") + (f"{days}D" if days else "")
    if hours or minutes or text == "P":
        text += (
            "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes or not hours else "")
        )
    total = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
    accepted = timedelta(0) < total <= MAXIMUM
    event(f"accepted={accepted}")
    if accepted:
        assert parse_duration(text) == total
        assert parse_duration(format_duration(total)) == total  # its own form reads back
        assert parse_duration(int(total / timedelta(minutes=1))) == total
    else:
        with pytest.raises(ValueError):
            parse_duration(text)


def _intervention(**fields: Any) -> Intervention:
    base = {"id": "team-a", "provider": "org-a", "title": "A", "purpose": "support"}
    return Intervention.model_validate(base | fields)


def test_the_older_whole_hour_keys_still_set_the_durations() -> None:
    i = _intervention(acceptance_sla_hours=24, escalate_after_hours=12)
    assert (i.acceptance_sla, i.escalate_after) == (timedelta(hours=24), timedelta(hours=12))
    assert _intervention(escalate_after_hours=None).escalate_after is None
    new = _intervention(acceptance_sla="PT30M", escalate_after=15, remind_after="PT20M")
    assert (new.acceptance_sla, new.escalate_after, new.remind_after) == (
        timedelta(minutes=30),
        timedelta(minutes=15),
        timedelta(minutes=20),
    )
    # The defaults are unchanged: 48 hours to respond, escalated a day later, offer kept.
    default = _intervention()
    assert (default.acceptance_sla, default.escalate_after, default.on_escalation) == (
        timedelta(hours=48),
        timedelta(hours=24),
        "keep",
    )


def test_the_packaged_partnerships_load_unchanged_with_their_hours() -> None:
    demo = load_configuration(DEMO_CONFIG_DIR)
    marac = demo.intervention("marac-birmingham")
    assert marac is not None and marac.acceptance_sla == timedelta(hours=24)
    severnside = load_configuration(SEVERNSIDE)
    assert {i.acceptance_sla for i in severnside.interventions} <= {
        timedelta(hours=h) for h in (24, 48, 72)
    }
    # The older keys never reach the content hash: only the durations do.
    dumped = demo.model_dump(mode="json")["interventions"][0]
    assert "acceptance_sla_hours" not in dumped and dumped["acceptance_sla"] == "P1D"


def _demo_copy(tmp_path: Path, **changes: Any) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    path = target / "interventions.yaml"
    document = yaml.safe_load(path.read_text())
    first = document["interventions"][0]
    first |= changes
    if "acceptance_sla" in changes and "acceptance_sla_hours" not in changes:
        first.pop("acceptance_sla_hours")  # the new key in place of the older one
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"acceptance_sla": "PT0M"}, "interventions.0.acceptance_sla", "zero"),
        ({"acceptance_sla": -30}, "interventions.0.acceptance_sla", "zero"),
        ({"escalate_after": "tomorrow"}, "escalate_after", "not a duration"),
        ({"acceptance_sla_hours": 0}, "acceptance_sla_hours", "greater than or equal to 1"),
        (
            {"acceptance_sla": "PT1H", "acceptance_sla_hours": 4},
            "interventions.0",
            "acceptance_sla or acceptance_sla_hours",
        ),
        ({"remind_after": "P3D"}, "interventions.0", "remind_after must come before"),
        ({"on_escalation": "forget"}, "on_escalation", "'withdraw' or 'keep'"),
    ],
)
def test_bad_timer_settings_are_refused_naming_the_field(
    tmp_path: Path, changes: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_configuration(_demo_copy(tmp_path, **changes))
    message = str(refused.value)
    assert "interventions.yaml" in message
    assert field in message and says in message, message


def test_the_demo_clock_divides_every_timer_by_its_speed() -> None:
    i = _intervention(acceptance_sla="PT30M", remind_after="PT20M", escalate_after="PT15M")
    offered = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    due = sla.respond_by(offered, i, 60)
    assert due - offered == timedelta(seconds=30)
    assert sla.reminder_at(due, i, 60) - offered == timedelta(seconds=20)
    escalation = sla.escalation_at(due, i, 60)
    assert escalation is not None and escalation - offered == timedelta(seconds=45)
    # At speed 1 nothing changes; the reminder defaults to the respond-by time.
    assert sla.respond_by(offered, i) - offered == timedelta(minutes=30)
    plain = _intervention(acceptance_sla="PT2H", escalate_after=None)
    plain_due = sla.respond_by(offered, plain, 1)
    assert sla.reminder_at(plain_due, plain, 1) == plain_due
    assert sla.escalation_at(plain_due, plain, 1) is None
    assert sla.scaled(timedelta(minutes=1), 3600) == timedelta(seconds=1)


def test_the_demo_clock_runs_only_in_a_demo() -> None:
    check_demo_clock(1, "production", demo_configuration=False)  # real time: always
    check_demo_clock(60, "", demo_configuration=True)
    with pytest.raises(DemoClockRefused, match="packaged demo configuration"):
        check_demo_clock(60, "", demo_configuration=False)
    with pytest.raises(DemoClockRefused, match="never runs in production"):
        check_demo_clock(60, "Production", demo_configuration=True)
    assert sla.demo_clock_banner(1) is None
    assert sla.demo_clock_banner(60) == "Demo clock: timers run 60\N{MULTIPLICATION SIGN} faster"


def test_vrp_up_with_a_demo_clock_refuses_another_partnership(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VRP_CONFIG_DIR": str(SEVERNSIDE),
        "VRP_DATABASE_URL": "sqlite+aiosqlite:///" + str(tmp_path / "x.db"),
    }
    result = vrp("up", "--speed", "60", "--port", "0", env=env)
    assert result.returncode == 2
    assert "refused to start" in result.stderr and "demo configuration" in result.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching the database
    production = {**env, "VRP_CONFIG_DIR": str(DEMO_CONFIG_DIR), "VRP_ENVIRONMENT": "production"}
    result = vrp("up", "--speed", "60", "--port", "0", env=production)
    assert result.returncode == 2 and "production" in result.stderr
    assert vrp("up", "--speed", "0").returncode == 2  # argparse: a whole number from 1
