"""The hot path's ids must stay the ids ``derive_id`` gives: replays rely on them."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.enforcement.ids import fast_id
from shared.events import derive_id


@given(
    kind=st.sampled_from(["action", "strike", "evidence", "legal_report", "event", "notice"]),
    parts=st.lists(st.one_of(st.uuids().map(str), st.text(max_size=40)), max_size=4),
)
def test_fast_id_equals_derive_id(kind: str, parts: list[str]) -> None:
    assert fast_id(kind, *parts) == derive_id(kind, *parts)


def test_fast_id_is_a_version_5_uuid() -> None:
    derived = fast_id("action", str(uuid.uuid4()), "remove_content")
    assert derived.version == 5
    assert derived.variant == uuid.RFC_4122
