"""The evidence export's data dictionary: every file, every column, what it means, its codes
and its caveats. The export writes it beside the files it describes, and a test holds the
two to each other (every column written is described, nothing described is missing)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SUPPRESSED_CAVEAT = (
    "Blank where suppressed: counts above zero but below the threshold are not shown, and "
    "enough others with them that none can be worked out from the totals."
)
RATE_CAVEAT = "Blank where the count it is computed from is suppressed."


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an exported file."""

    name: str
    kind: str  # code, count, integer, rate, number, text (a label or period, not free text)
    meaning: str
    codes: str = ""
    caveats: str = ""


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One exported file: its name (without extension), what a row is, its columns."""

    name: str
    meaning: str
    columns: tuple[Column, ...]
    caveats: str = ""


def code_list(codes: Mapping[str, str] | Iterable[str]) -> str:
    """A code list as the dictionary prints it: `code = label; ...` (or codes alone)."""
    if isinstance(codes, Mapping):
        return "; ".join(f"{code} = {label}" for code, label in codes.items())
    return "; ".join(codes)


SEX_CODES = {
    "female": "Female",
    "male": "Male",
    "indeterminate": "Indeterminate (unable to be classified as either)",
    "not-known": "Not known (not recorded)",
}
AGE_BAND_CODES = ("under 10", "10-13", "14-17", "18-24", "25+", "unknown")
OFFER_STATUS_CODES = {
    "awaiting": "Offered, no answer yet",
    "accepted": "Accepted, not yet in progress",
    "in-progress": "Being delivered",
    "completed": "Completed",
    "declined": "Declined by the organisation",
    "cancelled": "Withdrawn by the referrer or the hub",
}


def records_entry(codes: Mapping[str, str]) -> FileEntry:
    """The record-level file: `codes` holds each coded column's code list, already
    rendered (`code_list`), by column name (reason, decline_reason, outcome, ...)."""
    return FileEntry(
        "records",
        "One row per offer of each referral made in the period (a referral with no offer: one "
        "row, its offer columns blank). De-identified coded facts: no name, NHS number, date "
        "of birth, postcode or small area, free text or pseudonym.",
        (
            Column(
                "referral",
                "integer",
                "The referral's number within this export (1, 2, ... in the order referred); "
                "rows of one referral share it.",
                caveats="Means nothing outside this file: it is not the referral's id, and a "
                "person referred twice has two unrelated numbers.",
            ),
            Column("month", "text", "Month of referral, YYYY-MM."),
            Column(
                "source_kind",
                "code",
                "Kind of organisation that referred.",
                codes.get("source_kind", ""),
            ),
            Column(
                "local_authority",
                "code",
                "ONS code of the local authority district of the person's postcode.",
                codes.get("local_authority", ""),
                "Blank when the postcode was missing or outside the directory.",
            ),
            Column(
                "imd_decile",
                "integer",
                "Index of Multiple Deprivation decile of the person's LSOA (1 = most deprived "
                "10 % of England's LSOAs, 10 = least).",
                "1; 2; 3; 4; 5; 6; 7; 8; 9; 10",
                "Blank when the postcode had no LSOA in the directory or the LSOA no decile. "
                "The LSOA itself is not exported.",
            ),
            Column(
                "age_band",
                "code",
                "Age band at referral (whole years).",
                code_list(AGE_BAND_CODES),
                "unknown when no date of birth was given.",
            ),
            Column(
                "sex",
                "code",
                "Sex as stated on the referral (subject.sex).",
                code_list(SEX_CODES),
                "Blank when the referrer did not send it.",
            ),
            Column(
                "reason",
                "code",
                "Primary reason for referral (the first given).",
                codes.get("reason", ""),
            ),
            Column(
                "reasons",
                "text",
                "Every reason given, codes sorted and separated by spaces.",
                "as reason",
            ),
            Column(
                "intervention",
                "code",
                "The intervention offered.",
                codes.get("intervention", ""),
                "Blank when the referral was offered to none (held, or not yet routed).",
            ),
            Column(
                "organisation",
                "code",
                "The organisation that runs the intervention.",
                codes.get("organisation", ""),
            ),
            Column(
                "offer_status", "code", "Where the offer stands.", code_list(OFFER_STATUS_CODES)
            ),
            Column(
                "decline_reason",
                "code",
                "The organisation's coded reason for declining.",
                codes.get("decline_reason", ""),
                "Blank unless offer_status is declined.",
            ),
            Column(
                "outcome",
                "code",
                "Coded outcome reported by the organisation.",
                codes.get("outcome", ""),
                "Blank until one is reported.",
            ),
            Column(
                "hours_to_acceptance",
                "number",
                "Hours from the offer to its acceptance, one decimal.",
                caveats="Blank when not accepted.",
            ),
            Column(
                "hours_to_first_contact",
                "number",
                "Hours from the offer to the organisation's first contact with the person, one "
                "decimal.",
                caveats="Blank when no first contact was recorded; offers made before first "
                "contacts were recorded have none.",
            ),
            Column(
                "days_to_close",
                "number",
                "Days from the offer to its completion or decline, one decimal.",
                caveats="Blank while open.",
            ),
        ),
        "Record-level: only for analysts, and every export is in the audit chain. Small "
        "counts are NOT suppressed here; publish only aggregates that apply the same rule.",
    )


def dictionary_rows(entries: Iterable[FileEntry]) -> list[dict[str, str]]:
    """The dictionary as rows: one per file (column blank), then one per column."""
    out: list[dict[str, str]] = []
    for entry in entries:
        out.append(
            {
                "file": entry.name,
                "column": "",
                "type": "file",
                "meaning": entry.meaning,
                "codes": "",
                "caveats": entry.caveats,
            }
        )
        for c in entry.columns:
            out.append(
                {
                    "file": entry.name,
                    "column": c.name,
                    "type": c.kind,
                    "meaning": c.meaning,
                    "codes": c.codes,
                    "caveats": c.caveats,
                }
            )
    return out


DICTIONARY_COLUMNS = ("file", "column", "type", "meaning", "codes", "caveats")
