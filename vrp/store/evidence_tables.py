"""The evidence tables: each referral's coded facts for evaluation and needs assessment, and
the denominators (ONS mid-year population estimates, the Index of Multiple Deprivation).
Nothing here names a person; the keyed pseudonym goes when retention reduces the referral."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table

from vrp.store.columns import Time, metadata

# Intake: one row per referral, written with it. Age in whole years at referral; the first
# reason given is the primary one (the comparison group is matched on it); `month` is
# YYYY-MM of referred_at so that every database groups by it the same way.
referral_facts = Table(
    "referral_facts",
    metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("referred_at", Time, nullable=False),
    Column("month", String(7), nullable=False),
    Column("source_kind", String(20), nullable=False),
    Column("local_authority", String(9)),
    Column("lsoa", String(9)),
    Column("age", Integer),
    Column("sex", String(20)),
    Column("reason", String(40), nullable=False),
    Column("reasons", String(400), nullable=False),  # every reason, sorted, space-separated
    Column("pseudonym", String(32)),  # the keyed subject pseudonym; None after retention
    Index("ix_referral_facts_month", "month", "local_authority"),
    Index("ix_referral_facts_subject", "pseudonym", "referred_at"),
)

# Geography: ONS mid-year population estimates by local authority, year, sex and single
# year of age (90 means 90 and over), loaded by `vrp geography population`.
populations = Table(
    "populations",
    metadata,
    Column("local_authority", String(9), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("sex", String(20), primary_key=True),  # 'female' or 'male'
    Column("age", Integer, primary_key=True),
    Column("population", Integer, nullable=False),
)

# Geography: each LSOA's Index of Multiple Deprivation decile (1 = most deprived 10 % of
# England's LSOAs) and its population, from the published IMD file (`vrp geography
# deprivation`).
deprivation = Table(
    "deprivation",
    metadata,
    Column("lsoa", String(9), primary_key=True),
    Column("local_authority", String(9)),
    Column("decile", Integer, nullable=False),
    Column("population", Integer, nullable=False),
)
