"""Derived ids must stay what ``uuid.uuid5`` gives: replays and other languages rely on them."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from shared.events import derive_id
from shared.events.envelope import _ID_NAMESPACE


@given(
    kind=st.sampled_from(["action", "strike", "classified", "event", "notice", "decision"]),
    parts=st.lists(st.one_of(st.uuids(), st.text(max_size=40), st.integers()), max_size=4),
)
def test_derive_id_is_uuid5_of_kind_and_parts(kind: str, parts: list[object]) -> None:
    name = kind + ":" + ":".join(str(p) for p in parts)
    try:
        expected = uuid.uuid5(_ID_NAMESPACE, name)
    except UnicodeEncodeError:  # a lone surrogate: neither can hash it
        return
    derived = derive_id(kind, *parts)
    assert derived == expected
    assert str(derived) == str(expected) and hash(derived) == hash(expected)
    assert derived.version == 5 and derived.variant == uuid.RFC_4122


def test_a_uuid_part_derives_the_same_id_as_its_string() -> None:
    part = uuid.uuid4()
    assert derive_id("action", part, "remove_content") == derive_id(
        "action", str(part), "remove_content"
    )
