"""The classifier on its own: rules, text models, versions, missing signals. No I/O."""

from __future__ import annotations

import asyncio
import random
import string
import threading
import time
from typing import Any

from bench.classifier import make_texts
from services.classifier.app import build_handler, build_signals
from services.classifier.handlers import ClassifyHandler
from services.classifier.settings import ClassifierSettings
from services.classifier.signals import RuleFile, RuleSignal, Signal, SignalRunner
from shared.events import Classification, Report, SignalResult
from shared.taxonomy import PolicyArea
from tests.factories import make_received, make_report

SETTINGS = ClassifierSettings()
HANDLER = build_handler(SETTINGS, with_context=False)


def _classify(text: str, area: PolicyArea = PolicyArea.HARASSMENT) -> Classification:
    return HANDLER.classify([make_received(text=text, policy_area=area)])[0].payload.classification


def _names(c: Classification) -> set[str]:
    return {s.name for s in c.signals}


def test_abusive_message_scores_high_for_harassment_with_model_and_rule_signals() -> None:
    c = _classify("you are a worthless idiot, go die")
    assert c.top_policy_area is PolicyArea.HARASSMENT
    assert c.top_score >= 0.9
    assert {"model:profanity", "rule:harassment.insults"} <= _names(c)
    rule = next(s for s in c.signals if s.name == "rule:harassment.insults")
    assert rule.weight == 0.55 and rule.score == 1.0 and not rule.shadow


def test_benign_message_fires_no_rule_and_ranks_below_spam() -> None:
    c = _classify("see you at the library tomorrow, bring the notes")
    # The models report their (low) probabilities so scores keep their ranking; no rule fires.
    assert {s.name for s in c.signals} <= {"model:spam", "model:profanity"}
    assert c.top_score < 0.2
    # The e-mail-trained spam model reads some short chat as spammy (see the README's "Not
    # done"), but a benign message still ranks below a spam one.
    garden = _classify("what a lovely photo of your garden")
    spam = _classify("get 5000 followers for your video today, best price, DM me")
    assert garden.scores.get(PolicyArea.SPAM, 0.0) < spam.scores[PolicyArea.SPAM]
    assert garden.scores.get(PolicyArea.HARASSMENT, 0.0) < 0.1


def test_leetspeak_lookalike_and_zero_width_evasions_still_match_rules() -> None:
    c = _classify("you are a w0rthl3ss 1d\u200bі0t")  # digits, zero-width space, Cyrillic i
    assert "rule:harassment.insults" in _names(c)


def test_threat_rule_fires_on_threat_and_not_on_game_talk() -> None:
    assert "rule:violent_threats.direct" in _names(_classify("I'm g0nna st4b you tonight"))
    assert "rule:violent_threats.direct" not in _names(_classify("this level is killing me"))


def test_shadow_rule_is_recorded_but_does_not_count() -> None:
    c = _classify("click the link in my bio", PolicyArea.SPAM)
    shadow = [s for s in c.signals if s.name == "rule:spam.link_in_bio"]
    assert shadow and shadow[0].shadow is True
    assert c.scores[PolicyArea.SPAM] < 0.2


def test_spam_model_fires_on_spam_and_scams_and_not_on_chat() -> None:
    spam = _classify("get 5000 followers for your video today, best price, DM me", PolicyArea.SPAM)
    assert "model:spam" in _names(spam)
    assert spam.top_policy_area is PolicyArea.SPAM
    scam = _classify("send 0.5 ETH to my wallet and receive double back, guaranteed profit")
    assert any(
        s.name == "model:spam" and s.policy_area is PolicyArea.SCAMS_FRAUD for s in scam.signals
    )
    assert scam.top_policy_area is PolicyArea.SCAMS_FRAUD
    chat = _classify("see you at the library tomorrow, bring the notes")
    assert chat.top_score < 0.2
    assert all(s.score < 0.2 for s in chat.signals if s.name == "model:spam")
    assert chat.scores.get(PolicyArea.SPAM, 0.0) < spam.scores[PolicyArea.SPAM] / 5


def test_spam_model_sees_through_leetspeak() -> None:
    c = _classify("cl1ck h3re f0r fr33 f0ll0wers, l1m1ted 0ffer", PolicyArea.SPAM)
    assert "model:spam" in _names(c)


def test_versions_of_every_rule_set_model_and_calibration_are_recorded() -> None:
    c = _classify("hello")
    assert {
        "rules",
        "model:profanity",
        "model:spam",
        "urls",
        "hashes",
        "context",
        "calibration",
    } <= set(c.versions)
    assert c.versions["rules"].startswith("rules-")
    assert c.versions["model:spam"].startswith("spam-")
    assert c.versions["calibration"].startswith("cal-")


class _Broken:
    name = "broken"
    version = "1"

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        raise RuntimeError("model file missing")


class _Slow:
    name = "slow"
    version = "1"

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        time.sleep(0.3)
        return [
            [SignalResult(name="slow", version="1", policy_area=PolicyArea.SPAM, score=1.0)]
            for _ in reports
        ]


def _handler_with(extra: Signal) -> ClassifyHandler:
    signals = [extra, *build_signals(SETTINGS)]
    return ClassifyHandler(SignalRunner(signals, budget_seconds=5.0, budgets={"slow": 0.05}))


def test_failing_signal_is_recorded_missing_and_the_report_still_scored() -> None:
    out = _handler_with(_Broken()).classify([make_received(text="you stupid idiot")])
    c = out[0].payload.classification
    assert c.missing_signals == ["broken"]
    assert c.top_score > 0.5


def test_signal_over_its_budget_is_missing_in_the_async_path_and_others_still_count() -> None:
    handler = _handler_with(_Slow())
    from shared.kafka.consumer import HandlerContext

    out = asyncio.run(handler([make_received(text="you stupid idiot")], HandlerContext(SETTINGS)))
    c = out[0].payload.classification
    assert c.missing_signals == ["slow"]
    assert "slow" not in _names(c)
    assert c.top_policy_area is PolicyArea.HARASSMENT and c.top_score > 0.5


def test_signal_over_its_budget_is_missing_in_the_offline_path() -> None:
    c = _handler_with(_Slow()).classify([make_received(text="hi")])[0].payload.classification
    assert c.missing_signals == ["slow"]


def test_rule_file_keywords_are_folded_like_the_text() -> None:
    rules = RuleFile.model_validate(
        {
            "version": "t-1",
            "rules": [{"id": "x", "policy_area": "spam", "weight": 0.5, "keywords": ["Ünicode"]}],
        }
    )
    signal = RuleSignal(rules)
    hit, miss = signal.score([make_report("this has unicode in it"), make_report("nothing")])
    assert [r.name for r in hit] == ["rule:x"] and miss == []


def _rule_file(*rules: dict[str, object]) -> RuleFile:
    return RuleFile.model_validate(
        {"version": "t-1", "rules": [{"policy_area": "spam", "weight": 0.5, **r} for r in rules]}
    )


def test_rules_re_reads_differently_from_re2_still_fire() -> None:
    # Each pattern means something else in RE2's syntax, or needs what RE2 cannot do: \\d is
    # any decimal digit in Python (ASCII only in RE2), {,2} a quantifier (a literal in RE2),
    # \\10 a back-reference (an octal escape in RE2), (?i) folds the dotless i onto i in
    # Python only, a negated set of negated categories is small in RE2 only, and RE2 has no
    # look-behind. Each must still match as in re.
    signal = RuleSignal(
        _rule_file(
            {"id": "order", "patterns": [r"\border \d+"]},
            {"id": "upto", "patterns": [r"\bzq{,2}x\b"]},
            {"id": "backref", "patterns": [r"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\10"]},
            {"id": "nocase", "patterns": [r"(?i:win 4free)"]},
            {"id": "digit", "patterns": [r"\bcode [^\D2-9]\b"]},
            {"id": "behind", "patterns": [r"(?<=pay )now\b"]},
        )
    )
    texts = [
        "order \u0663\u0663 shipped",
        "zx marks it",
        "abcdefghijj",
        "w\u0131n 4free",
        "code \u0661",
        "pay now please",
        "nothing here",
    ]
    fired = [[r.name for r in rs] for rs in signal.score([make_report(t) for t in texts])]
    assert fired == [
        ["rule:order"],
        ["rule:upto"],
        ["rule:backref"],
        ["rule:nocase"],
        ["rule:digit"],
        ["rule:behind"],
        [],
    ]


def test_rules_still_match_when_the_prefilter_cannot_be_built(caplog: Any) -> None:
    # Tens of thousands of keywords are past RE2's memory limit for the filter; Python's re
    # takes them, so every rule is searched on every text instead.
    rng = random.Random(7)
    words = ["".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(20_000)]
    signal = RuleSignal(_rule_file({"id": "many", "keywords": words}))
    assert "prefilter cannot be built" in caplog.text
    hit, miss = signal.score([make_report(f"say {words[-1]} now"), make_report("say nothing")])
    assert [r.name for r in hit] == ["rule:many"] and miss == []


def test_rule_prefilter_skips_only_rules_that_cannot_match(monkeypatch: Any) -> None:
    from services.classifier.signals import rules as rules_module
    from services.classifier.signals.rules import load_rule_file

    rule_file = load_rule_file(SETTINGS.rules_path)
    texts = [
        *make_texts(400),
        "you are a 1d10t and a m0r0n",
        "i\u200bd\u200bi\u200bo\u200bt",
        "I'm going to hurt you",
        "we\u2019ll find you and beat you",
        "how old are you? send me a pic",
        "verify your account now",
        "idiotés et imbéciles",
        "",
    ]
    reports = [make_report(t) for t in texts]
    prefiltered = RuleSignal(rule_file).score(reports)
    # The same rules with every pattern searched on every text.
    monkeypatch.setattr(rules_module, "superset_pattern", lambda pattern: None)
    searched = RuleSignal(rule_file).score(reports)
    assert prefiltered == searched
    assert sum(map(len, searched)) > 150


class _Hung:
    """Blocks until released, as a model stuck on a lock would."""

    name = "hung"
    version = "1"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.finished = False

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        self.release.wait(timeout=60)
        self.finished = True
        return [[] for _ in reports]


def test_a_hung_signal_is_missing_and_the_batch_goes_on_without_it() -> None:
    from shared.kafka.consumer import HandlerContext

    hung = _Hung()
    handler = ClassifyHandler(SignalRunner([*build_signals(SETTINGS), hung], budget_seconds=0.5))

    async def scenario() -> tuple[Classification, bool]:
        out = await handler([make_received(text="you stupid idiot")], HandlerContext(SETTINGS))
        still_running = not hung.finished
        hung.release.set()
        return out[0].payload.classification, still_running

    c, still_running = asyncio.run(scenario())
    assert still_running  # the report was scored while the signal was still stuck
    assert c.missing_signals == ["hung"]
    assert c.top_policy_area is PolicyArea.HARASSMENT
