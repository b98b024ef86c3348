from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from shared.config import ServiceSettings

DEFAULT_POLICY = Path(__file__).with_name("policies") / "default.yaml"


class EnforcementSettings(ServiceSettings):
    service_name: str = "enforcement"
    http_port: int = 8004
    # Graduated enforcement, preservation and statement grounds (validated at start-up).
    policy_path: Path = DEFAULT_POLICY
    api_key_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    # The action ledger: an issued action the client has not confirmed within the timeout is
    # re-issued, up to ``action_max_reissues`` times with doubling waits, then marked failed.
    action_confirm_timeout_s: float = Field(default=300.0, gt=0, le=7 * 86400)
    action_max_reissues: int = Field(default=3, ge=0, le=100)
    ledger_sweep_interval_s: float = Field(default=5.0, gt=0, le=3600)
    # Audit checkpoints: the head seq and hash, stored at this interval when the head moved.
    audit_checkpoint_interval_s: float = Field(default=300.0, gt=0, le=86400)
    # Signed export of the checkpoints to a directory the database cannot write (a mounted
    # volume, or one synced to an object store), HMAC-SHA256 under a key held only here.
    audit_checkpoint_dir: Path | None = None
    audit_checkpoint_key: SecretStr | None = Field(default=None, min_length=32)
    # DSA Art. 20: appeals are open for this many months after the decision was communicated.
    appeal_window_months: int = Field(default=6, ge=6, le=120)
    # Transparency Database submitter: off unless both are set.
    sor_api_url: str | None = None
    sor_api_token: str | None = Field(default=None, repr=False)
    sor_batch_size: int = Field(default=100, ge=1, le=100)
    sor_poll_interval_s: float = Field(default=5.0, gt=0, le=3600)
    sor_backoff_initial_s: float = Field(default=1.0, gt=0, le=3600)
    sor_backoff_max_s: float = Field(default=300.0, gt=0, le=86400)
    sor_timeout_s: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _export_needs_a_key(self) -> EnforcementSettings:
        if self.audit_checkpoint_dir is not None and self.audit_checkpoint_key is None:
            raise ValueError("TNS_AUDIT_CHECKPOINT_DIR needs TNS_AUDIT_CHECKPOINT_KEY to sign with")
        return self

    @property
    def checkpoint_export(self) -> tuple[Path, bytes] | None:
        """The export directory and signing key, when checkpoints are exported."""
        if self.audit_checkpoint_dir is None or self.audit_checkpoint_key is None:
            return None
        return self.audit_checkpoint_dir, self.audit_checkpoint_key.get_secret_value().encode()

    @property
    def sor_submitter_enabled(self) -> bool:
        return bool(self.sor_api_url and self.sor_api_token)
