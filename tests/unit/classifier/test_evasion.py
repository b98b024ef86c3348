"""Spelling evasions do not lower the harassment score, and mild swearing in ordinary messages
does not reach the router's action threshold."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.classifier.app import build_handler
from services.classifier.handlers import ClassifyHandler
from services.classifier.settings import ClassifierSettings
from services.classifier.training import report_for
from shared.taxonomy import PolicyArea

ROUTER_POLICY = Path(__file__).parents[3] / "services" / "router" / "policies" / "default.yaml"
ZW = "\u200b"

# Plain abusive phrase -> ways people write it to slip past filters.
EVASIONS: dict[str, list[str]] = {
    "you are an idiot": [
        "y0u ar3 an id1ot",
        "you are an i d i o t",
        "you are an i.d.i.o.t",
        "you are an idiooooot",
        "you are an id*iot",
        "you are an i🤬d🤬i🤬o🤬t",
        "you are an \u0456d\u0456\u043et",  # Cyrillic i, i, o
        f"you are an id{ZW}i{ZW}ot",
        "YOU ARE AN IDIOT",
        "you are an 1d10t",
    ],
    "shut up you stupid loser": [
        "shut up you stup1d l0ser",
        "shut up you s t u p i d loser",
        "shut up you stuuuupid loooser",
        "shut up you s-t-u-p-i-d l-o-s-e-r",
        "shut up you st\u00fcp\u00efd loser",
        "shut up you s💩t💩u💩p💩i💩d loser",
        "shut up you \u0455tupid lo\u0455er",  # Cyrillic dze
    ],
    "you worthless piece of trash": [
        "you w0rthl3ss piece of tr@sh",
        "you w o r t h l e s s piece of trash",
        "you worthlesssss piece of traaash",
        "you worth*less piece of tr*ash",
        "you w.o.r.t.h.l.e.s.s piece of trash",
        "you worthless piece of t🗑r🗑a🗑s🗑h",
    ],
    "nobody likes you, you pathetic moron": [
        "nobody likes you, you p4th3tic m0r0n",
        "nobody likes you, you pathetic m o r o n",
        "nobody likes you, you patheeeetic morooon",
        "nobody likes you, you pathetic m*o*r*o*n",
        "nobody likes you, you \u0440athetic m\u043er\u043en",  # Cyrillic p, o
        "nobody likes you, you pathetic m✨o✨r✨o✨n",
    ],
    "you dumb ugly fool": [
        "you dumb ugly f00l",
        "you d u m b ugly f o o l",
        "you duuuumb ugly fooool",
        "you d*mb ugly f*ol",
        "you dumb \u0443gly fool",  # Cyrillic u
        "you d.u.m.b ugly f.o.o.l",
    ],
}

# Ordinary messages with mild swearing: none may be actioned automatically as harassment.
MILD_SWEARING = [
    "Bloody hell, the train is late again",
    "No shit, but we still need to finish the report",
    "Damn, that was a good game last night",
    "What the hell happened to the wifi?",
    "This printer is a piece of crap",
    "Oh crap, I forgot my keys at home",
    "holy shit that concert was amazing",
    "I'm so damn tired today",
    "the bloody cat knocked over my coffee",
    "well that's a pain in the ass, see you tomorrow",
    "shit, I missed the bus, be there in 10",
    "hell yeah, pizza tonight!",
    "that movie was freaking awesome",
    "screw it, let's order takeout",
    "my code is a damn mess but it works",
]


@pytest.fixture(scope="module")
def handler() -> ClassifyHandler:
    return build_handler(ClassifierSettings(), with_context=False)


def _harassment(handler: ClassifyHandler, texts: list[str]) -> list[float]:
    events = handler.classify_reports([report_for(t) for t in texts])
    return [e.payload.classification.scores.get(PolicyArea.HARASSMENT, 0.0) for e in events]


def test_the_table_holds_at_least_30_variants_of_5_phrases() -> None:
    assert len(EVASIONS) >= 5
    assert sum(len(v) for v in EVASIONS.values()) >= 30


@pytest.mark.parametrize("plain", list(EVASIONS))
def test_evasions_score_within_a_tenth_of_the_plain_phrase(
    handler: ClassifyHandler, plain: str
) -> None:
    variants = EVASIONS[plain]
    base, *scores = _harassment(handler, [plain, *variants])
    assert base >= 0.5, f"the plain phrase {plain!r} scores only {base}"
    far = {v: s for v, s in zip(variants, scores, strict=True) if abs(s - base) > 0.1}
    assert not far, f"plain {plain!r} scores {base}; these differ by more than 0.1: {far}"


def test_mild_swearing_stays_below_the_harassment_action_threshold(
    handler: ClassifyHandler,
) -> None:
    policy = yaml.safe_load(ROUTER_POLICY.read_text(encoding="utf-8"))
    threshold = policy["areas"]["harassment"]["auto_action_at"]
    scores = dict(zip(MILD_SWEARING, _harassment(handler, MILD_SWEARING), strict=True))
    over = {t: s for t, s in scores.items() if s >= threshold}
    assert not over, f"actioned at {threshold}: {over}"
