from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from shared.config import ServiceSettings

PACKAGE = Path(__file__).parent
DEFAULT_RULES = PACKAGE / "rules" / "default.yaml"
DEFAULT_URL_CONFIG = PACKAGE / "data" / "urls.yaml"
DEFAULT_SPAM_MODEL = PACKAGE / "model_files" / "spam.onnx"
DEFAULT_CALIBRATION = PACKAGE / "data" / "calibration.json"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tns-classifier``, else ``~/.cache/tns-classifier``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tns-classifier"


class ClassifierSettings(ServiceSettings):
    service_name: str = "classifier"
    http_port: int = 8002
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    api_key_cache_seconds: float = Field(default=30.0, ge=0, le=3600)

    rules_path: Path = DEFAULT_RULES
    url_config_path: Path = DEFAULT_URL_CONFIG
    spam_model_path: Path = DEFAULT_SPAM_MODEL
    calibration_path: Path | None = DEFAULT_CALIBRATION
    # Where the abusive-language model's numbers are kept once read from its library, so a
    # restart loads them without importing scikit-learn.
    model_cache_dir: Path | None = Field(default_factory=default_cache_dir)

    # Probability from a text model from which it counts as a signal. Low, so that scores keep
    # their ranking (calibration, not this cut, turns them into probabilities); a probability
    # under 1 % is left out only to keep events small.
    profanity_threshold: float = Field(default=0.01, ge=0, le=1)
    # How much the abusive-language model counts. It recognises swearing, not whom it is
    # aimed at ("Bloody hell, the train is late"), so alone it must not reach the router's
    # action threshold for harassment (0.9): with a rule or a second signal it can.
    profanity_weight: float = Field(default=0.6, gt=0, le=1)
    spam_threshold: float = Field(default=0.01, ge=0, le=1)

    # Larger batches than the shared default: the models' per-call overhead, the context
    # queries and the hand-over to the signal thread are paid once per batch.
    consumer_batch_max: int = Field(default=2000, ge=1, le=10_000)

    # Time budget of one signal for one batch; over it, the signal is recorded as missing.
    signal_budget_seconds: float = Field(default=2.0, gt=0, le=60)

    # Hash banks: PDQ Hamming distance (of 256 bits) at or under which an image matches,
    # and how often the in-memory copy is reloaded from PostgreSQL.
    pdq_distance_threshold: int = Field(default=31, ge=0, le=128)
    bank_refresh_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Context: Beta(a, b) prior of the reporter reputation (a = b gives a neutral 0.5 start),
    # the window for distinct reporters of one subject, and how long report records are kept.
    reputation_prior_a: float = Field(default=2.0, gt=0)
    reputation_prior_b: float = Field(default=2.0, gt=0)
    velocity_window_seconds: int = Field(default=24 * 3600, ge=60)
    record_retention_days: int = Field(default=90, ge=1)
    # Normalised text kept per report for the labelled export; longer texts are cut.
    record_text_max_chars: int = Field(default=2000, ge=0, le=20_000)
