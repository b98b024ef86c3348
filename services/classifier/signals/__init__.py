"""Signals: plug-ins that each score a batch of reports (see ``base.Signal``)."""

from services.classifier.signals.base import Signal, SignalRun, SignalRunner
from services.classifier.signals.hashes import HashSignal
from services.classifier.signals.rules import RuleFile, RuleSignal, RuleSpec, load_rule_file
from services.classifier.signals.text_models import ProfanitySignal, TextModelSignal
from services.classifier.signals.urls import UrlConfig, UrlSignal, load_url_config

__all__ = [
    "HashSignal",
    "ProfanitySignal",
    "RuleFile",
    "RuleSignal",
    "RuleSpec",
    "Signal",
    "SignalRun",
    "SignalRunner",
    "TextModelSignal",
    "UrlConfig",
    "UrlSignal",
    "load_rule_file",
    "load_url_config",
]
