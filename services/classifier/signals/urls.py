"""URL and phishing signals: look-alike and punycode domains, raw IPs, shorteners, risky
top-level domains, a block list, and impersonation of protected brands.

URLs come from ``Report.urls`` (canonicalised by intake) and from the text, so events from any
producer are covered. Suffixes come from the list shipped inside ``tldextract`` (see
``shared.text``), never from the network.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import unicodedata
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.classifier.feeds import parse_blocklist, parse_brands
from shared.events import Report, SignalResult
from shared.taxonomy import PolicyArea
from shared.text import CanonicalUrl, canonical_url, fold

FINDINGS_CACHE_SIZE = 50_000
# How often a watched configuration checks its files' modification times.
RELOAD_CHECK_SECONDS = 5.0
log = logging.getLogger(__name__)
FINDINGS = (
    "blocklisted",
    "brand_lookalike",
    "brand_in_unrelated_domain",
    "mixed_script",
    "punycode",
    "ip_host",
    "risky_tld",
    "shortener",
)


class Brand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=3, pattern=r"^[a-z0-9]+$")
    domains: list[str] = Field(min_length=1)


class UrlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    policy_area: PolicyArea = PolicyArea.SCAMS_FRAUD
    weights: dict[str, float]
    shortener_area: PolicyArea = PolicyArea.SPAM
    shorteners: list[str] = Field(default_factory=list)
    risky_tlds: list[str] = Field(default_factory=list)
    blocklist: list[str] = Field(default_factory=list)
    # Feed files (paths relative to this file's folder): block lists in the formats of public
    # phishing and malware lists, brands as brand,domain CSV (``services.classifier.feeds``).
    blocklist_files: list[Path] = Field(default_factory=list)
    brand_files: list[Path] = Field(default_factory=list)
    credential_words: list[str] = Field(default_factory=list)
    protected_brands: list[Brand] = Field(default_factory=list)

    def model_post_init(self, _context: object) -> None:
        unknown = set(self.weights) - set(FINDINGS)
        missing = set(FINDINGS) - set(self.weights)
        if unknown or missing:
            raise ValueError(f"weights: unknown {sorted(unknown)}, missing {sorted(missing)}")
        for name, w in self.weights.items():
            if not 0 < w <= 1:
                raise ValueError(f"weights.{name} must be in (0, 1]")


def load_url_config(path: Path) -> UrlConfig:
    """The configuration in ``path`` with its feed files read in: their hosts join
    ``blocklist``, their brands ``protected_brands`` (domains of a brand named in both are
    merged), and ``version`` gains a digest of the lists so every change is a new version."""
    with path.open(encoding="utf-8") as fh:
        config = UrlConfig.model_validate(yaml.safe_load(fh))
    if not config.blocklist_files and not config.brand_files:
        return config
    blocked = set(config.blocklist)
    for name in config.blocklist_files:
        file = path.parent / name
        try:
            blocked |= parse_blocklist(file.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise ValueError(f"{file}: {exc.strerror or exc}") from exc
    brands = {b.name: set(b.domains) for b in config.protected_brands}
    for name in config.brand_files:
        file = path.parent / name
        try:
            for brand, domains in parse_brands(file.read_text(encoding="utf-8")).items():
                brands.setdefault(brand, set()).update(domains)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{file}: {getattr(exc, 'strerror', None) or exc}") from exc
    lists = repr((sorted(blocked), sorted((k, sorted(v)) for k, v in brands.items())))
    digest = hashlib.sha256(lists.encode()).hexdigest()[:8]
    return config.model_copy(
        update={
            "version": f"{config.version}+{digest}",
            "blocklist": sorted(blocked),
            "protected_brands": [Brand(name=k, domains=sorted(v)) for k, v in brands.items()],
        }
    )


def config_files(path: Path) -> list[Path]:
    """The configuration file and the feed files it names (what a reload watches)."""
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    names = [*raw.get("blocklist_files", []), *raw.get("brand_files", [])]
    return [path, *(path.parent / str(n) for n in names)]


# Beyond shared.text.fold: letters a domain can fake with others ("rn" for "m", "1"/"l"/"I").
_SKELETON_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("l", "i"), ("1", "i"), ("0", "o"))


def skeleton(label: str) -> str:
    """The look-alike skeleton of a domain label: two labels with one skeleton read the same."""
    s = fold(label).replace("-", "").replace("_", "")
    for a, b in _SKELETON_PAIRS:
        s = s.replace(a, b)
    return s


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping early once it is certainly over ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def _scripts(label: str) -> set[str]:
    out = set()
    for ch in label:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            out.add(name.split(" ", 1)[0] if name else "UNKNOWN")
    return out


class UrlSignal:
    """One result per kind of finding per report, naming the host that caused it."""

    name = "urls"

    def __init__(self, config: UrlConfig, *, watch: Path | None = None) -> None:
        """``watch``: the configuration file ``config`` was loaded from; when it or a feed file
        it names changes (modification time or size), the configuration is loaded again before
        the next batch, checked at most every ``RELOAD_CHECK_SECONDS``. A file that fails to
        load keeps the previous configuration (logged)."""
        self._watch = watch
        self._stamps = self._file_stamps() if watch is not None else {}
        self._next_check = time.monotonic() + RELOAD_CHECK_SECONDS
        self._apply(config)

    def _file_stamps(self) -> dict[Path, tuple[int, int]]:
        assert self._watch is not None
        stamps: dict[Path, tuple[int, int]] = {}
        try:
            files = config_files(self._watch)
        except (OSError, yaml.YAMLError):
            files = [self._watch]
        for file in files:
            try:
                st = os.stat(file)
                stamps[file] = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamps[file] = (-1, -1)
        return stamps

    def reload_if_changed(self) -> bool:
        """Load the watched configuration again if one of its files changed; True if it did."""
        if self._watch is None:
            return False
        stamps = self._file_stamps()
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        try:
            config = load_url_config(self._watch)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            log.warning("url configuration not reloaded, keeping %s: %s", self.version, exc)
            return False
        self._apply(config)
        log.info("url configuration reloaded: %s", self.version)
        return True

    def _apply(self, config: UrlConfig) -> None:
        self.config = config
        self.version = config.version
        self._shorteners = frozenset(config.shorteners)
        self._risky = frozenset(t.lower().lstrip(".") for t in config.risky_tlds)
        self._blocked = frozenset(d.lower() for d in config.blocklist)
        self._cred = tuple(w.lower() for w in config.credential_words)
        self._brands = [
            (b.name, skeleton(b.name), frozenset(d.lower() for d in b.domains))
            for b in config.protected_brands
        ]
        self._official = frozenset(d for _, _, ds in self._brands for d in ds)
        # The same links recur across reports (a campaign, a popular site): findings per URL
        # are cached; a plain dict, cleared when full, is cheaper than an LRU on this path.
        self._cache: dict[tuple[str, bool], dict[str, str]] = {}

    def urls_of(self, report: Report) -> list[CanonicalUrl]:
        """The report's URLs, as intake extracted and canonicalised them (``report_urls``)."""
        seen: dict[str, CanonicalUrl] = {}
        for u in report.urls:
            c = canonical_url(u)
            if c is not None and c.url not in seen:
                seen[c.url] = c
        return list(seen.values())

    def findings(self, url: CanonicalUrl, flagged: bool) -> dict[str, str]:
        """Finding kind -> explanation, for one canonical URL."""
        found: dict[str, str] = {}
        host, registered = url.host, url.registered_domain
        if registered in self._blocked or host in self._blocked:
            found["blocklisted"] = f"{host} is on the block list"
        if url.is_ip:
            found["ip_host"] = f"raw IP host {host}"
            return found
        if registered in self._shorteners:
            found["shortener"] = f"URL shortener {registered}"
        tld = url.suffix.rsplit(".", 1)[-1]
        if tld in self._risky:
            found["risky_tld"] = f"risky top-level domain .{tld}"
        if url.is_punycode or flagged:
            found["punycode"] = f"internationalised host {url.ascii_host}"
            for label in host.split("."):
                scripts = _scripts(label)
                if len(scripts) > 1:
                    found["mixed_script"] = f"label {label!r} mixes {'+'.join(sorted(scripts))}"
                    break
        if registered in self._official:
            return found
        label = registered[: -len(url.suffix) - 1] if url.suffix else registered
        label_skel = skeleton(label)
        tokens = {skeleton(t) for t in label.split("-") if t}
        sub = host[: -len(registered)].rstrip(".") if registered else ""
        sub_tokens = {skeleton(t) for t in re.split(r"[.-]", sub) if t}
        for brand, brand_skel, _ in self._brands:
            if label_skel == brand_skel or (
                len(brand_skel) >= 6 and edit_distance(label_skel, brand_skel, 1) <= 1
            ):
                found["brand_lookalike"] = f"{registered} imitates {brand}"
                break
            # Combosquatting ("paypal-login"): the brand as a hyphenated part, or as the start
            # of a label when long enough not to be an ordinary word ("pineapple" is fine).
            if brand_skel in tokens or (len(brand_skel) >= 6 and label_skel.startswith(brand_skel)):
                found["brand_lookalike"] = f"{registered} carries the brand {brand}"
                break
            if brand_skel in sub_tokens:
                found["brand_in_unrelated_domain"] = f"{brand} in the subdomain of {registered}"
                break
            path = url.path.lower()
            if brand in path and any(w in path for w in self._cred):
                found["brand_in_unrelated_domain"] = f"{brand} login path on {registered}"
                break
        return found

    def score(self, reports: list[Report]) -> list[list[SignalResult]]:
        if self._watch is not None and time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + RELOAD_CHECK_SECONDS
            self.reload_if_changed()
        cfg = self.config
        out: list[list[SignalResult]] = []
        for report in reports:
            urls = self.urls_of(report)
            if not urls:
                out.append([])
                continue
            flagged = set(report.urls_flagged)
            merged: dict[str, str] = {}
            for url in urls:
                key = (url.url, url.url in flagged)
                found = self._cache.get(key)
                if found is None:
                    if len(self._cache) >= FINDINGS_CACHE_SIZE:
                        self._cache.clear()
                    found = self._cache[key] = self.findings(url, key[1])
                for kind, why in found.items():
                    merged.setdefault(kind, why)
            out.append(
                [
                    SignalResult(
                        name=f"url:{kind}",
                        version=self.version,
                        policy_area=cfg.shortener_area if kind == "shortener" else cfg.policy_area,
                        score=1.0,
                        weight=cfg.weights[kind],
                        detail=why,
                    )
                    for kind, why in merged.items()
                ]
            )
        return out
