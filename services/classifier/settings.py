from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.config import ServiceSettings

DEFAULT_RULES = Path(__file__).with_name("rules") / "default.yaml"


class ClassifierSettings(ServiceSettings):
    service_name: str = "classifier"
    http_port: int = 8002
    rules_path: Path = DEFAULT_RULES
    # Probability from the abusive-language model above which it counts as a signal.
    profanity_threshold: float = Field(default=0.5, ge=0, le=1)
