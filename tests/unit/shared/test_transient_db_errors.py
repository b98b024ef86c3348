"""A database restarting is an outage to wait out, not a reason to dead-letter a message.

PostgreSQL stopped and started under load answered "the database system is shutting down"
(SQLSTATE 57P01) and "... is starting up" (57P03) through an open connection; those batches were
dead-lettered, so their reports were never decided. Errors of the message itself still are.
"""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from shared.kafka.consumer import _is_infra_error


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def _wrapped(sqlstate: str) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, _DriverError(sqlstate))


@pytest.mark.parametrize(
    "sqlstate",
    ["57P01", "57P03", "08006", "53300", "40P01", "40001"],
    ids=[
        "shutting-down",
        "starting-up",
        "connection-lost",
        "too-many-connections",
        "deadlock",
        "serialization",
    ],
)
def test_a_database_outage_is_retried(sqlstate: str) -> None:
    assert _is_infra_error(_wrapped(sqlstate))


@pytest.mark.parametrize("sqlstate", ["22P02", "23505", "42703"])
def test_an_error_of_the_message_is_not(sqlstate: str) -> None:
    assert not _is_infra_error(_wrapped(sqlstate))
