"""Short messages: the shipped classifier (spam model and calibration) tells everyday chat from
SMS-style spam and scams. The messages are written for this test; none is in the labelled sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.classifier.app import build_handler
from services.classifier.corpora import chatterbot_rows, split
from services.classifier.handlers import ClassifyHandler
from services.classifier.settings import ClassifierSettings
from services.classifier.training import Row, classify_rows
from shared.taxonomy import PolicyArea

CHAT = [
    "running late, see you at 7",
    "can you pick up milk",
    "lol that was hilarious",
    "what a lovely photo of your garden",
    "thanks so much for the flowers, they're beautiful",
    "are you free for lunch on tuesday?",
    "just got home, what a day",
    "miss you, call me later",
    "the match starts at 8, coming round?",
    "I'll be there in 20 minutes",
    "happy birthday mate, have a good one",
    "did you remember to book the dentist?",
    "see you tomorrow at the usual place",
    "how's your mum doing?",
    "sorry, can't make it tonight, next week?",
    "great news about the house!",
    "can you send me that recipe",
    "we're at the park by the pond",
    "who's driving on saturday?",
    "that film was so good, you have to see it",
    "good morning! coffee?",
    "the baby finally slept through the night",
    "let me know when you land",
    "I got the job!!",
    "bring a jumper, it's cold out",
]

# Premium-rate prize-draw texts ("WINNER! ... call 09050 ...", "Text WIN to 80123") are not
# here: the held-out judge is a collection of such SMS, the labelled sets hold no real ones, and
# written look-alikes were taken out of training. The shipped model scores them 0.02-0.5
# (README, *Labelled data*).
SPAM = [
    "Your account is locked, verify at secure-login-check.com to restore access",
    "Your parcel is waiting. Pay the £1.45 delivery fee at parcel-redelivery-fee.com",
    "You have won a free iPhone! Claim it now at free-phone-winner.top",
    "Hi Mum, new number, lost my phone. Can you send £200 for a bill today? Will pay back",
    "Your bank card has been suspended. Call 0800 111 2222 now to reactivate it",
    "Claim your free £100 voucher today! Reply CLAIM to 66022. T&Cs apply",
    "Your tax refund of £312 is ready. Enter your card details at gov-tax-refund.net",
    "Earn £500 a week from home, no experience needed! Text JOB to 70707",
]

AREAS = (PolicyArea.SPAM, PolicyArea.SCAMS_FRAUD)


@pytest.fixture(scope="module")
def handler() -> ClassifyHandler:
    return build_handler(ClassifierSettings(), with_context=False)


def _spam_scores(handler: ClassifyHandler, texts: list[str]) -> dict[str, float]:
    results = classify_rows(handler, [Row(t, "none") for t in texts])
    return {
        t: max(c.scores.get(a, 0.0) for a in AREAS) for t, c in zip(texts, results, strict=True)
    }


def test_everyday_chat_scores_under_one_half_as_spam_or_scam(handler: ClassifyHandler) -> None:
    flagged = {t: s for t, s in _spam_scores(handler, CHAT).items() if s >= 0.5}
    assert not flagged, flagged


def test_sms_style_spam_and_scams_score_over_one_half(handler: ClassifyHandler) -> None:
    missed = {t: s for t, s in _spam_scores(handler, SPAM).items() if s <= 0.5}
    assert not missed, missed


def test_chatterbot_conversations_become_short_none_rows(tmp_path: Path) -> None:
    folder = tmp_path / "chatterbot_corpus" / "data" / "english"
    folder.mkdir(parents=True)
    (folder / "greetings.yml").write_text(
        "categories:\n- greetings\nconversations:\n- - Hello\n  - Hi there,   how are you?\n"
        "- - Hello\n  - Good to see you\n",
        encoding="utf-8",
    )
    rows = chatterbot_rows(tmp_path)
    assert [(r.text, r.label, r.source) for r in rows] == [
        ("Hello", "none", "chatterbot-corpus"),
        ("Hi there, how are you?", "none", "chatterbot-corpus"),
        ("Hello", "none", "chatterbot-corpus"),
        ("Good to see you", "none", "chatterbot-corpus"),
    ]
    assert sum(len(v) for v in split(rows).values()) == 3  # "Hello" once


def test_a_folder_without_the_english_conversations_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="english"):
        chatterbot_rows(tmp_path)
