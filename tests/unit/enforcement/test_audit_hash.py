import uuid
from datetime import UTC, datetime

from services.enforcement.audit import GENESIS, row_hash


def _row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "recorded_at": datetime(2026, 1, 1, tzinfo=UTC),
        "actor_kind": "policy",
        "actor_id": "router:v1",
        "act": "decision_recorded",
        "subject_id": "msg-1",
        "report_id": uuid.UUID(int=1),
        "decision_id": uuid.UUID(int=2),
        "action_id": None,
        "details": {"outcome": "action", "score": 0.97},
    }
    row.update(over)
    return row


def test_any_edit_to_a_row_changes_its_hash() -> None:
    base = row_hash(1, GENESIS, _row())
    assert row_hash(1, GENESIS, _row(details={"outcome": "no_action", "score": 0.97})) != base
    assert row_hash(1, GENESIS, _row(actor_id="reviewer:mallory")) != base
    assert row_hash(2, GENESIS, _row()) != base
    assert row_hash(1, "1" * 64, _row()) != base


def test_hash_does_not_depend_on_key_order_or_timezone_of_the_timestamp() -> None:
    from datetime import timedelta, timezone

    shifted = datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    same = _row(recorded_at=shifted, details={"score": 0.97, "outcome": "action"})
    assert row_hash(1, GENESIS, same) == row_hash(1, GENESIS, _row())


def test_hash_of_a_known_row_never_changes() -> None:
    # Stored chains are verified with this function: any change to it breaks them all.
    assert row_hash(1, GENESIS, _row()) == (
        "6c5430bf02f07a4802ff8cce17974f587472236eb3e24fc0cc50b45003c94eb2"
    )
    later = _row(
        action_id=uuid.UUID(int=3),
        case_id=uuid.UUID(int=4),
        details={"a": [1, "x"], "id": str(uuid.UUID(int=5))},
    )
    assert row_hash(7, "1" * 64, later) == (
        "6b45a9ba86c6a3beef55d0a6c2e5d1aab6933cd8cd238d5f37e62631ac8a5066"
    )
