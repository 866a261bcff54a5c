"""The hub's pages in words: held reasons with titles and labels, only what the hub may read
of a refusal, and how long a referral has waited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.intake.console.hub_case import codes_only, reason_text, waited
from vrp.config_files import load_configuration
from vrp.settings import DEMO_CONFIG_DIR


def test_a_held_reason_names_the_intervention_and_says_each_code_in_words() -> None:
    config = load_configuration(DEMO_CONFIG_DIR)
    line = "navigators-birmingham: capacity-full (1 of 1 places taken); paused"
    assert reason_text(line, config) == (
        "A&E youth violence navigators, Birmingham and Solihull: full (no places left) "
        "(1 of 1 places taken); paused"
    )
    # A code the page does not know is shown as it came, never dropped.
    assert reason_text("x: something-new (why)", config) == "x: something-new (why)"


def test_a_refusal_without_the_hubs_reasons_keeps_only_the_codes() -> None:
    line = "navigators-birmingham: ineligible-age (age 30 outside 11-25); capacity-full (1 of 1)"
    assert codes_only(line) == "navigators-birmingham: ineligible-age; capacity-full"


def test_waiting_time_reads_at_a_glance() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert waited(now - timedelta(minutes=59), now) == "59 min"
    assert waited(now - timedelta(hours=3, minutes=5), now) == "3 h"
    assert waited(now - timedelta(hours=47), now) == "47 h"
    assert waited(now - timedelta(days=3, hours=1), now) == "3 days"
