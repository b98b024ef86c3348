from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from services.enforcement import audit
from services.enforcement.settings import EnforcementSettings

KEY = b"k" * 32
AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_exported_checkpoints_read_back_with_their_signatures_checked(tmp_path: Path) -> None:
    found = [audit.Checkpoint(6, "a" * 64, AT), audit.Checkpoint(10, "b" * 64, AT)]
    written = audit.export(tmp_path, KEY, found)
    assert [p.name for p in written] == [
        "checkpoint-00000000000000000006.json",
        "checkpoint-00000000000000000010.json",
    ]
    assert audit.read_exported(tmp_path, KEY) == found
    assert audit.newest_exported(tmp_path) == 10
    with pytest.raises(audit.ExportError, match="signature does not match"):
        audit.read_exported(tmp_path, b"x" * 32)


def test_an_exported_file_is_never_replaced(tmp_path: Path) -> None:
    audit.export(tmp_path, KEY, [audit.Checkpoint(6, "a" * 64, AT)])
    assert audit.export(tmp_path, KEY, [audit.Checkpoint(6, "c" * 64, AT)]) == []
    assert audit.read_exported(tmp_path, KEY)[0].head_hash == "a" * 64
    assert not list(tmp_path.glob("*.tmp"))


def test_an_edited_file_is_refused_naming_it(tmp_path: Path) -> None:
    (path,) = audit.export(tmp_path, KEY, [audit.Checkpoint(6, "a" * 64, AT)])
    body = orjson.loads(path.read_bytes())
    path.write_bytes(orjson.dumps({**body, "head_hash": "d" * 64}))
    with pytest.raises(audit.ExportError, match=path.name):
        audit.read_exported(tmp_path, KEY)
    path.write_text("{not json")
    with pytest.raises(audit.ExportError, match="unreadable"):
        audit.read_exported(tmp_path, KEY)


def test_an_export_directory_without_a_signing_key_is_refused() -> None:
    with pytest.raises(ValueError, match="TNS_AUDIT_CHECKPOINT_KEY"):
        EnforcementSettings(audit_checkpoint_dir=Path("/tmp/x"))
    with pytest.raises(ValueError, match="at least 32"):
        EnforcementSettings(audit_checkpoint_dir=Path("/tmp/x"), audit_checkpoint_key="short")
    ok = EnforcementSettings(audit_checkpoint_dir=Path("/tmp/x"), audit_checkpoint_key="k" * 32)
    assert ok.checkpoint_export == (Path("/tmp/x"), b"k" * 32)
    assert "k" * 32 not in repr(ok)
