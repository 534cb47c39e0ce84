"""The SQLite log row checksum: the writer's one-call form gives exactly the values of the generic
field-by-field CRC that earlier versions stored (a changed value would make every old log row
fail its check on load)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from statuslist.storage.sqlite import _change_crc, _crc

_text = st.text(max_size=40)  # any code point, lone surrogates included (stored surrogatepass)


@given(
    list_id=_text,
    indices=st.binary(max_size=80),
    old=st.binary(max_size=10),
    new=st.binary(max_size=10),
    at=st.one_of(st.floats(allow_nan=False), st.integers(-(2**53), 2**53)),
    actor=_text,
)
def test_change_crc_is_the_generic_crc(
    list_id: str, indices: bytes, old: bytes, new: bytes, at: float, actor: str
) -> None:
    assert _change_crc(list_id, indices, old, new, at, actor) == _crc(
        list_id, indices, old, new, float(at), actor
    )
