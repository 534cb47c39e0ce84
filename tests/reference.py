"""A deliberately small pure-Python reference of spec §4 (stdlib only), for property tests."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping


def pack(size: int, bits: int, statuses: Mapping[int, int]) -> bytes:
    """Byte array of spec §4.1: entry i at byte i // (8 // bits), shift (i % (8 // bits)) * bits."""
    per_byte = 8 // bits
    out = bytearray(-(-size * bits // 8))
    for i, v in statuses.items():
        out[i // per_byte] |= v << ((i % per_byte) * bits)
    return bytes(out)


def get(raw: bytes, bits: int, i: int) -> int:
    per_byte = 8 // bits
    return (raw[i // per_byte] >> ((i % per_byte) * bits)) & ((1 << bits) - 1)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def to_json(raw: bytes, bits: int, level: int = 9) -> dict[str, object]:
    return {"bits": bits, "lst": b64url(zlib.compress(raw, level))}
