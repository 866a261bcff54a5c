"""Partnerships other than the demo one, so that code is not shaped around one configuration."""

from __future__ import annotations

from pathlib import Path

SEVERNSIDE = Path(__file__).resolve().parents[1] / "tests" / "configurations" / "severnside"
"""A second, unrelated partnership in one file (tests/configurations/severnside/): its own
vocabularies, a loaded ONS Postcode Directory extract, a phone-only flow, no demo keys."""
