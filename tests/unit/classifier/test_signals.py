from services.classifier.app import build_signals
from services.classifier.handlers import ClassifyHandler
from services.classifier.settings import ClassifierSettings
from shared.events import Report, SignalResult
from shared.taxonomy import PolicyArea
from tests.factories import make_received

HANDLER = ClassifyHandler(build_signals(ClassifierSettings()))


def _classify(text: str, area: PolicyArea = PolicyArea.HARASSMENT):  # type: ignore[no-untyped-def]
    return HANDLER.classify([make_received(text=text, policy_area=area)])[0].payload.classification


def test_abusive_message_scores_high_for_harassment_with_model_and_rule_signals() -> None:
    c = _classify("you are a worthless idiot, go die")
    assert c.top_policy_area is PolicyArea.HARASSMENT
    assert c.top_score >= 0.9
    names = {s.name for s in c.signals}
    assert "model:profanity" in names
    assert "rule:harassment.insults" in names


def test_benign_message_fires_nothing() -> None:
    c = _classify("what a lovely photo of your garden")
    assert c.signals == []
    assert c.top_score < 0.2


def test_leetspeak_and_lookalike_evasions_still_match_rules() -> None:
    c = _classify("you are a w0rthl3ss 1d\u200bі0t")  # digits, zero-width space, Cyrillic i
    assert any(s.name == "rule:harassment.insults" for s in c.signals)


def test_spam_rule_gives_a_borderline_spam_score() -> None:
    c = _classify("buy followers cheap at my shop", PolicyArea.SPAM)
    assert c.top_policy_area is PolicyArea.SPAM
    assert 0.3 <= c.top_score < 0.8


def test_versions_of_every_signal_are_recorded() -> None:
    c = _classify("hello")
    assert set(c.versions) == {"rules", "model:profanity"}
    assert c.versions["rules"].startswith("rules-")


class _Broken:
    name = "broken"
    version = "1"

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        raise RuntimeError("model file missing")


def test_failing_signal_is_recorded_missing_and_the_report_still_scored() -> None:
    handler = ClassifyHandler([_Broken(), *build_signals(ClassifierSettings())])
    out = handler.classify([make_received(text="you stupid idiot")])
    c = out[0].payload.classification
    assert c.missing_signals == ["broken"]
    assert c.top_score > 0.5
