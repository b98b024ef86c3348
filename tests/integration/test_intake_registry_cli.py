"""The ``flaggers`` and ``authorities`` commands as an operator runs them: output and exit codes."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devstack.embedded import EmbeddedPostgres
from services.intake.__main__ import main


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


Cli = Callable[..., Run]


@pytest.fixture
def intake(
    postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    """``python -m services.intake ARGS``, run in this process (a fresh interpreter per command
    would spend most of the test importing)."""
    monkeypatch.setenv("TNS_DATABASE_URL", postgres.url)
    monkeypatch.setenv("TNS_LOG_JSON", "false")
    # The migration's INFO lines would go to stdout with the command's own output.
    monkeypatch.setenv("TNS_LOG_LEVEL", "WARNING")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def run(*args: str) -> Run:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse refusing the arguments
            code = exc.code if isinstance(exc.code, int) else 2
        out, err = capsys.readouterr()
        return Run(code, out, err)

    yield run
    root.handlers[:], root.level = handlers, level


def listed(intake: Cli, command: str, id_field: str, id_: str) -> list[Any]:
    out = intake(command, "list")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    return [r for r in rows if r[id_field] == id_]


def test_flaggers_add_list_remove(intake: Cli) -> None:
    fid = f"tf-{uuid.uuid4().hex[:8]}"
    added = intake(
        "flaggers",
        "add",
        fid,
        "--name",
        "Hate Watch e.V.",
        "--client",
        "ngo-hatewatch",
        "--areas",
        "hate_speech, violent_extremism",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout == ""
    [row] = listed(intake, "flaggers", "flagger_id", fid)
    assert row["name"] == "Hate Watch e.V."
    assert (row["client_id"], row["key_id"]) == ("ngo-hatewatch", None)
    assert row["policy_areas"] == ["hate_speech", "violent_extremism"]
    assert row["removed_at"] is None

    removed = intake("flaggers", "remove", fid)
    assert removed.returncode == 0, removed.stderr
    [row] = listed(intake, "flaggers", "flagger_id", fid)
    assert row["removed_at"] is not None

    again = intake("flaggers", "remove", fid)
    assert again.returncode == 1
    assert f"no active flagger {fid}" in again.stderr


def test_flaggers_add_refuses_what_it_cannot_register(intake: Cli) -> None:
    fid = f"tf-{uuid.uuid4().hex[:8]}"
    unbound = intake("flaggers", "add", fid, "--name", "N", "--areas", "spam")
    assert unbound.returncode == 2
    assert "cannot add flagger: a flagger needs a client id or an API key id" in unbound.stderr
    bad_area = intake(
        "flaggers", "add", fid, "--name", "N", "--client", "c", "--areas", "spam,nope"
    )
    assert bad_area.returncode == 2
    assert "cannot add flagger:" in bad_area.stderr and "nope" in bad_area.stderr
    no_area = intake("flaggers", "add", fid, "--name", "N", "--client", "c", "--areas", ",")
    assert no_area.returncode == 2
    assert "at least one designated policy area" in no_area.stderr
    assert listed(intake, "flaggers", "flagger_id", fid) == []


def test_authorities_add_list_remove(intake: Cli) -> None:
    ircu, court = f"ircu-{uuid.uuid4().hex[:8]}", f"court-{uuid.uuid4().hex[:8]}"
    added = intake(
        "authorities",
        "add",
        ircu,
        "--name",
        "Internet Referral Unit",
        "--kind",
        "law_enforcement",
        "--key-id",
        "3fa2c1b0d4e5",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout == ""
    default = intake("authorities", "add", court, "--name", "Courts", "--client", "c")
    assert default.returncode == 0, default.stderr
    [row] = listed(intake, "authorities", "authority_id", ircu)
    assert (row["name"], row["kind"]) == ("Internet Referral Unit", "law_enforcement")
    assert (row["client_id"], row["key_id"]) == (None, "3fa2c1b0d4e5")
    [row] = listed(intake, "authorities", "authority_id", court)
    assert row["kind"] == "legal_order"

    removed = intake("authorities", "remove", ircu)
    assert removed.returncode == 0, removed.stderr
    [row] = listed(intake, "authorities", "authority_id", ircu)
    assert row["removed_at"] is not None
    again = intake("authorities", "remove", ircu)
    assert again.returncode == 1
    assert f"no active authority {ircu}" in again.stderr


def test_authorities_add_refuses_a_source_bound_to_nothing(intake: Cli) -> None:
    aid = f"auth-{uuid.uuid4().hex[:8]}"
    unbound = intake("authorities", "add", aid, "--name", "N")
    assert unbound.returncode == 2
    assert "cannot add authority: an authority needs a client id or an API key id" in (
        unbound.stderr
    )
    bad_kind = intake("authorities", "add", aid, "--name", "N", "--kind", "nope")
    assert bad_kind.returncode == 2
    assert "invalid choice" in bad_kind.stderr
    assert listed(intake, "authorities", "authority_id", aid) == []
