"""URL and phishing signals: each finding fires on its example and not on ordinary links."""

from __future__ import annotations

import pytest

from services.classifier.settings import DEFAULT_URL_CONFIG
from services.classifier.signals.urls import UrlSignal, edit_distance, load_url_config, skeleton
from shared.taxonomy import PolicyArea
from tests.factories import make_report

SIGNAL = UrlSignal(load_url_config(DEFAULT_URL_CONFIG))


def _findings(text: str, **overrides: object) -> dict[str, str]:
    results = SIGNAL.score([make_report(text, **overrides)])[0]
    return {r.name.removeprefix("url:"): r.detail for r in results}


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("log in at http://192.168.10.7/paypal/login", "ip_host"),
        ("log in at http://3232238087/x", "ip_host"),  # an IP written as one number
        ("short link bit.ly/3xYzAb", "shortener"),
        ("great deals at https://deals.example.zip/now", "risky_tld"),
        ("claim at http://free-prizes.example.com/claim?id=1", "blocklisted"),
        ("verify at paypa1-login.com/verify", "brand_lookalike"),  # digit for a letter
        ("verify at https://\u0440aypal.com/", "brand_lookalike"),  # Cyrillic r
        ("verify at https://\u0440aypal.com/", "mixed_script"),
        ("verify at https://xn--ypal-43d9g.com/", "punycode"),
        ("order at www.amaz0n-support.com", "brand_lookalike"),
        ("order at https://arnazon.com/deals", "brand_lookalike"),  # rn for m
        ("see https://paypal.secure-check.example.net/", "brand_in_unrelated_domain"),
        ("see https://files.example.net/paypal/login.html", "brand_in_unrelated_domain"),
    ],
)
def test_finding_fires(text: str, finding: str) -> None:
    assert finding in _findings(text)


@pytest.mark.parametrize(
    "text",
    [
        "pay at https://www.paypal.com/signin",
        "docs at https://docs.example.org/api/v2#auth",
        "my recipe https://recipes.example.com/apple-pie",
        "read https://news.example.com/2024/05/policy-update",
        "I bought a pineapple at https://pineapple.example.com",
        "no links here at all",
    ],
)
def test_ordinary_links_fire_nothing(text: str) -> None:
    assert _findings(text) == {}


def test_urls_from_the_report_field_count_and_flagged_punycode_is_reported() -> None:
    found = _findings(
        "", urls=["https://xn--80ak6aa92e.com/"], urls_flagged=["https://xn--80ak6aa92e.com/"]
    )
    assert "punycode" in found


def test_phishing_goes_to_scams_and_shorteners_to_spam() -> None:
    results = SIGNAL.score([make_report("http://paypa1.com and bit.ly/x")])[0]
    areas = {r.name: r.policy_area for r in results}
    assert areas["url:brand_lookalike"] is PolicyArea.SCAMS_FRAUD
    assert areas["url:shortener"] is PolicyArea.SPAM
    assert all(0 < r.weight <= 1 and r.version == SIGNAL.version for r in results)


def test_skeleton_and_edit_distance() -> None:
    assert skeleton("paypa1") == skeleton("paypal") == skeleton("pаypal")
    assert edit_distance("amazom", "amazon", 1) == 1
    assert edit_distance("facebook", "notebook", 1) == 2
