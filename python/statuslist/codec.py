"""The status list codec (spec §4): a typed façade over the native core.

``StatusList`` holds a bit-packed list in native memory (``bits`` ∈ {1, 2, 4, 8}, LSB first within
each byte) and encodes it to the zlib stream, the JSON object and the CBOR map the spec defines.
Encoding is incremental: after a few changes only the touched 64 KiB chunks are recompressed (and
the chunk after a change in a chunk's last :data:`DICT_BYTES`, which the next chunk copies from).
Decoding untrusted input inflates at most ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`).
"""

from __future__ import annotations

from statuslist._native import CHUNK_BYTES, DEFAULT_MAX_BYTES, DICT_BYTES, MAX_ENTRIES, StatusList

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_MAX_BYTES",
    "DICT_BYTES",
    "INVALID",
    "MAX_ENTRIES",
    "SUSPENDED",
    "VALID",
    "StatusList",
]

#: Status Types of spec §7.1.
VALID = 0x00
INVALID = 0x01
SUSPENDED = 0x02
