"""Text in JSON bodies: one content type and one encoding, NFC normalisation, and refusal
of characters that hide or disguise what a person reading the referral would see."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

from fastapi import Request

from services.intake.api.problems import Problem, invalid, malformed
from services.intake.api.state import intake_state

JSON = "application/json"
# Line breaks belong in prose, never in a name, code or number.
MULTILINE = frozenset({"summary", "justification", "legal_condition"})
# Right-to-left/left-to-right overrides, embeddings, isolates and marks: they reorder what
# is displayed (a "Trojan Source" name reads differently from what is stored).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Letters that display as nothing: Hangul fillers, the braille blank.
_BLANK_LETTERS = "\u115f\u1160\u3164\uffa0\u2800"


@cache
def forbidden_class(prose: bool) -> str:
    """A regex character class body: control (C0, C1), format (zero-width, bidi, soft
    hyphen ...), line and paragraph separator characters of the Basic Multilingual Plane,
    and blank letters; prose may keep tab, line feed, carriage return. (Unpaired surrogates
    are refused too, but no regex engine of JSON Schema can name them.)"""
    codes = [
        c
        for c in range(0x10000)
        if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp")
        and not (prose and chr(c) in "\t\n\r")
    ]
    codes += [ord(ch) for ch in _BLANK_LETTERS]
    ranges: list[tuple[int, int]] = []
    for c in sorted(codes):
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


def _pattern(forbidden: str) -> str:
    # Neither forbidden characters nor white space at either end (which the models would
    # strip, making a length limit on the raw text untrue).
    return f"^[^{forbidden}\\s](?:[^{forbidden}]*[^{forbidden}\\s])?$"


TEXT_PATTERN = _pattern(forbidden_class(prose=False))
"""What a text field may hold (the OpenAPI document states it as the field's pattern)."""
PROSE_PATTERN = _pattern(forbidden_class(prose=True))
"""The same for prose (summary, justification, legal_condition), which may break lines."""
_TEXT, _PROSE = re.compile(TEXT_PATTERN), re.compile(PROSE_PATTERN)
_SURROGATE = re.compile("[\ud800-\udfff]")
_FIND = {
    False: re.compile(f"[{forbidden_class(False)}]"),
    True: re.compile(f"[{forbidden_class(True)}]"),
}


def nfc(value: Any) -> Any:
    """The JSON value with every string (not member names) in Unicode NFC."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [nfc(v) for v in value]
    if isinstance(value, dict):
        return {k: nfc(v) for k, v in value.items()}
    return value


def problem_of(text: str, prose: bool) -> str | None:
    """Why a string value is refused, or None when it is acceptable."""
    if _SURROGATE.search(text):  # "\ud800" in JSON; no database can store it
        return "contains an unpaired surrogate"
    # fullmatch: Python's $ would also match before a final line feed; ECMA's does not.
    if (_PROSE if prose else _TEXT).fullmatch(text):
        return None
    found = _FIND[prose].search(text)
    if found is None:
        return "begins or ends with white space" if text.strip() else "is empty or blank"
    ch = found.group()
    if ch in _BIDI:
        return "contains a bidirectional control character"
    if unicodedata.category(ch) in ("Cf", "Lo"):
        return "contains an invisible character"
    return "contains a control character or line break"


def text_problems(value: Any, path: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Every refused string in a JSON value, by field path (never quoting the value)."""
    if isinstance(value, str):
        prose = bool(path) and path[-1] in MULTILINE
        reason = problem_of(value, prose)
        return [{"field": ".".join(path) or "(body)", "detail": reason}] if reason else []
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in text_problems(v, (*path, str(i)))]
    if isinstance(value, dict):
        # A member name that is not the API's is refused by the model without being named.
        return [p for k, v in value.items() for p in text_problems(v, (*path, str(k)))]
    return []


async def json_request(request: Request) -> None:
    """415 unless the body is application/json; 400 unless it is UTF-8 (no byte order mark,
    no UTF-16 or UTF-32); 422 naming each string field with forbidden characters."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != JSON:
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"Send the body as {JSON} (UTF-8).",
            [{"field": "Content-Type", "detail": f"must be {JSON}"}],
        )
    body = await request.body()
    # json.loads would quietly accept a BOM and detect UTF-16/32; the API speaks UTF-8 only
    # (RFC 8259 8.1). A NUL byte can only come from a wider encoding: JSON escapes it.
    if body.startswith(b"\xef\xbb\xbf") or b"\x00" in body:
        raise malformed("The body must be UTF-8 without a byte order mark.")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("The body must be UTF-8.") from None
    if not body:
        return  # the model says which fields are required
    try:
        document = await request.json()
    except ValueError:
        return  # FastAPI has already answered a malformed body
    found = text_problems(document)
    if found:
        raise invalid(found, intake_state(request).settings.max_validation_errors)
