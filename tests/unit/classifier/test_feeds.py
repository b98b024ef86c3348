"""Block lists and brands read from feed files in the formats public lists use, reloaded when
the files change, and URL findings ordered as a person would order them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from services.classifier.app import build_handler
from services.classifier.feeds import parse_blocklist, parse_brands
from services.classifier.settings import DEFAULT_URL_CONFIG, ClassifierSettings
from services.classifier.signals import urls as urls_module
from services.classifier.signals.urls import UrlSignal, load_url_config
from services.classifier.training import report_for
from shared.taxonomy import PolicyArea

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def _read(name: str) -> str:
    return (FEEDS / name).read_text(encoding="utf-8")


def test_a_hosts_file_blocks_its_hosts_but_not_its_sinks_or_localhost() -> None:
    assert parse_blocklist(_read("hosts.txt")) == {
        "malware-drop.example",
        "login-secure-update.example",
        "tracker.bad.example",
        "cdn.bad.example",
    }


def test_a_plain_domain_list_with_wildcards_and_adblock_rules() -> None:
    assert parse_blocklist(_read("domains.txt")) == {
        "phish-one.example",
        "wildcard-phish.example",
        "adblock-style.example",
    }


def test_a_url_list_blocks_the_hosts_of_its_urls_defanged_or_not() -> None:
    assert parse_blocklist(_read("urls.txt")) == {
        "compromised.example.org",
        "203.0.113.7",
        "defanged-phish.example",
    }


def test_phishtank_and_urlhaus_csv_dumps_block_the_hosts_of_their_url_column() -> None:
    assert parse_blocklist(_read("phishtank.csv")) == {
        "secure-paypa1-account.example",
        "appleid-unlock.example",
    }
    assert parse_blocklist(_read("urlhaus.csv")) == {"198.51.100.23", "payload-host.example"}


def test_a_brand_file_lists_official_domains_and_refuses_a_bad_row() -> None:
    assert parse_brands(_read("brands.csv")) == {
        "examplebank": {"examplebank.com", "examplebank.co.uk"}
    }
    with pytest.raises(ValueError, match="line 2"):
        parse_brands("brand,domain\nexamplebank\n")


def _config_with_feeds(tmp_path: Path) -> Path:
    raw = yaml.safe_load(DEFAULT_URL_CONFIG.read_text(encoding="utf-8"))
    raw["blocklist_files"] = ["feeds/phishtank.csv", "feeds/hosts.txt", "feeds/urls.txt"]
    raw["brand_files"] = ["feeds/brands.csv"]
    shutil.copytree(FEEDS, tmp_path / "feeds")
    path = tmp_path / "urls.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _kinds(signal: UrlSignal, text: str) -> set[str]:
    (results,) = signal.score([report_for(text)])
    return {r.name for r in results}


def test_feed_files_named_in_the_configuration_are_loaded(tmp_path: Path) -> None:
    path = _config_with_feeds(tmp_path)
    signal = UrlSignal(load_url_config(path))
    assert "url:blocklisted" in _kinds(signal, "login at https://appleid-unlock.example/x")
    assert "url:blocklisted" in _kinds(signal, "get it from http://malware-drop.example/a.exe")
    # A listed address is blocked too, besides being a raw IP host.
    assert {"url:blocklisted", "url:ip_host"} <= _kinds(signal, "https://203.0.113.7/bank/x")
    assert "url:blocklisted" not in _kinds(signal, "https://203.0.113.8/bank/x")
    # The brand from the brand file is protected: a look-alike of it is found.
    assert "url:brand_lookalike" in _kinds(signal, "verify at https://examp1ebank.com/login")
    assert signal.version.startswith(load_url_config(DEFAULT_URL_CONFIG).version + "+")


def test_a_changed_feed_file_is_reloaded_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(urls_module, "RELOAD_CHECK_SECONDS", 0.0)
    path = _config_with_feeds(tmp_path)
    signal = UrlSignal(load_url_config(path), watch=path)
    before = signal.version
    text = "urgent: http://new-phish.example/verify"
    assert "url:blocklisted" not in _kinds(signal, text)
    hosts = tmp_path / "feeds" / "hosts.txt"
    hosts.write_text(hosts.read_text() + "0.0.0.0 new-phish.example\n", encoding="utf-8")
    stat = hosts.stat()
    os.utime(hosts, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert "url:blocklisted" in _kinds(signal, text)
    assert signal.version != before
    # A broken file keeps the last good lists.
    (tmp_path / "feeds" / "brands.csv").write_text("brand,domain\nbad brand!,x\n")
    assert not signal.reload_if_changed()
    assert "url:blocklisted" in _kinds(signal, text)


def test_phishing_links_score_above_a_benign_shortened_link() -> None:
    handler = build_handler(ClassifierSettings(), with_context=False)
    texts = {
        "shortened": "hey, the photos from saturday are here https://bit.ly/3xY7pQz",
        "blocklisted": "see https://wallet-unlock.example.com/",
        "lookalike": "your account is on hold, sign in at https://paypa1.com/signin",
        "combosquat": "confirm your details: https://paypal-account-verify.com/login",
    }
    events = handler.classify_reports([report_for(t) for t in texts.values()])
    top = {
        name: max(
            e.payload.classification.scores.get(PolicyArea.SCAMS_FRAUD, 0.0),
            e.payload.classification.scores.get(PolicyArea.SPAM, 0.0),
        )
        for name, e in zip(texts, events, strict=True)
    }
    for phishing in ("blocklisted", "lookalike", "combosquat"):
        assert top[phishing] > top["shortened"], top
    assert top["shortened"] < 0.5, top
