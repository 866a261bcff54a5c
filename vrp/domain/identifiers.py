"""Identifiers: NHS numbers, referral references, keyed pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid


def nhs_number_is_valid(value: str) -> bool:
    """True when value is 10 digits whose last is the modulus-11 check digit."""
    if len(value) != 10 or not value.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(value[9])


def new_id() -> uuid.UUID:
    """A time-ordered UUID (v7 layout) so ids sort by creation and index well."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def reference(referral_id: uuid.UUID) -> str:
    """Short human reference for a referral, safe to put in an alert (no personal data)."""
    return "VRP-" + referral_id.hex[-10:].upper()


def pseudonym(key: bytes, *parts: str) -> str:
    """Keyed HMAC-SHA256 pseudonym; unkeyed hashes of NHS numbers are brute-forceable."""
    message = "\x1f".join(parts).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
