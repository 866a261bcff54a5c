"""The router with state: a sender removed by a reload, and `vrp rules explain` deciding
with capacity and history from a database or a file (and saying which it used)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from services.router.routing import route
from testkit.partnerships import SEVERNSIDE
from testkit.referrals import EXAMPLE
from testkit.rules import config, referral
from vrp.config_files import check_directory
from vrp.domain.identifiers import new_id
from vrp.domain.lifecycle import RecipientState
from vrp.events import topics
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.code_usage import stored_codes
from vrp.store.database import Database
from vrp.store.geography import DirectoryError, read_directory
from vrp.store.migrate import upgrade
from vrp.store.tables import decisions, outbox, routed
from vrp.store.unit import unit_of_work


async def test_a_referral_whose_sender_a_reload_removed_is_held_for_the_hub(
    sqlite_db: Database,
) -> None:
    gone = referral().model_copy(update={"id": str(new_id()), "source_org": "gone-org"})
    async with unit_of_work(sqlite_db) as unit:
        decision = await route(unit, config(), b"k", gone, "event-1")
    assert decision is not None and decision.outcome == "held"
    async with sqlite_db.engine.connect() as conn:
        stored = (await conn.execute(select(decisions.c.outcome))).scalar_one()
        published = set((await conn.execute(select(outbox.c.topic))).scalars())
    assert stored == "held"
    assert topics.partner_referrals("hub") in published  # the hub is told (ids and codes)


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "rules", "explain", *args, "--on", "2026-11-25"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_explain_without_state_says_capacity_and_repeats_were_not_considered() -> None:
    result = explain(str(DEMO_CONFIG_DIR), str(EXAMPLE), "--from", "uhb")
    assert result.returncode == 0, result.stderr
    assert "state: none given, so capacity and repeat referrals were not considered" in (
        result.stdout
    )


def test_explain_with_a_state_file_applies_the_repeat_rule_and_widened_eligibility() -> None:
    examples = EXAMPLE.parent
    result = explain(
        str(DEMO_CONFIG_DIR),
        str(examples / "referral-repeat.json"),
        "--from",
        "uhb",
        "--state",
        str(examples / "state.json"),
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "rules matched: repeat-domestic-abuse" in out
    assert "marac-birmingham (rule repeat-domestic-abuse): chosen" in out
    assert "eligibility adjusted by the rule: risks: high -> any" in out
    assert "gp-domestic-abuse-advocates (rule repeat-domestic-abuse): rejected for 2 reasons" in out
    assert f"state: file {examples / 'state.json'}" in out
    assert '"subject.phone": "07700 900456"' in out and "jo.fictional@example.com" not in out


async def test_explain_with_a_database_sees_a_full_intervention(tmp_path: Path) -> None:
    directory = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, directory)
    interventions = directory / "interventions.yaml"
    interventions.write_text(interventions.read_text().replace("capacity: 400", "capacity: 1"))
    url = f"sqlite+aiosqlite:///{tmp_path}/vrp.db"
    db = Database(url)
    await upgrade(db)
    async with db.transaction() as conn:
        await conn.execute(
            routed.insert().values(
                referral_id="r-0",
                intervention="navigators-birmingham",
                organisation="navigators",
                status=RecipientState.ACCEPTED,
            )
        )
    await db.dispose()
    result = explain(str(directory), str(EXAMPLE), "--from", "uhb", "--database", url)
    assert result.returncode == 0, result.stderr
    assert "capacity-full (1 of 1 places taken)" in result.stdout
    assert f"state: database {url} (1 open referral(s)" in result.stdout
    assert "area: E08000025 from the postcode (the database's postcode directory" in result.stdout


def test_the_postcode_directory_reader_takes_the_published_columns_only() -> None:
    with (SEVERNSIDE / "postcodes.csv").open() as f:
        rows = [(r.postcode, r.local_authority, r.lsoa) for r in read_directory(f)]
    assert rows == [
        ("BS1 4ST", "E06000023", None),
        ("BS16 1AA", "E06000025", None),
        ("BS20 7AA", "E06000024", None),
    ]  # BS1 9XX was terminated (doterm); this extract has no LSOA column
    try:
        list(read_directory(iter(["postcode,district\n", "BS1 4ST,E06000023\n"])))  # type: ignore[arg-type]
    except DirectoryError as exc:
        assert "pcds" in str(exc) and "oslaua" in str(exc)
    else:
        raise AssertionError("a file without the ONSPD columns was read")


def test_vrp_geography_load_replaces_the_directory_from_an_onspd_extract(tmp_path: Path) -> None:
    env = {**os.environ, "VRP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/vrp.db"}
    command = [sys.executable, "-m", "services.cli", "geography", "load"]
    loaded = subprocess.run(
        [*command, str(SEVERNSIDE / "postcodes.csv")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 3 live postcodes" in loaded.stdout
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("postcode,district\nBS1 4ST,E06000023\n")
    refused = subprocess.run(
        [*command, str(wrong)], capture_output=True, text=True, timeout=60, env=env
    )
    assert refused.returncode == 1
    assert "no column pcds (or pcd2, pcd) and no column oslaua" in refused.stderr


async def test_rules_check_counts_the_codes_stored_decisions_use(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/vrp.db"
    db = Database(url)
    await upgrade(db)
    async with db.transaction() as conn:
        for n, (reasons, ground) in enumerate(
            [(["machete-injury", "knife-crime"], "vital-interests"), (["machete-injury"], None)]
        ):
            await conn.execute(
                decisions.insert().values(
                    referral_id=f"r-{n}",
                    event_id=f"e-{n}",
                    config_version="old",
                    outcome="held",
                    detail={},
                    facts={"reasons": reasons, "override_ground": ground},
                    decided_at=datetime.now(UTC),
                )
            )
    await db.dispose()
    stored = await stored_codes(url)
    assert stored["reasons"] == {"machete-injury": 2, "knife-crime": 1}
    assert stored["override_grounds"] == {"vital-interests": 1}
    _, found = check_directory(SEVERNSIDE, date(2026, 11, 25), stored)
    # Severnside replaced the national reasons and removed vital-interests.
    assert [w.split(": ", 1)[1] for w in found] == [
        "override grounds code 'vital-interests' is not in the vocabulary but 1 stored "
        "referral(s) use it",
        "reasons code 'knife-crime' is not in the vocabulary but 1 stored referral(s) use it",
        "reasons code 'machete-injury' is not in the vocabulary but 2 stored referral(s) use it",
    ]
    assert all(w.startswith(f"{SEVERNSIDE / 'partnership.yaml'}:") for w in found)
