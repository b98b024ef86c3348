"""Domain feeds for the URL signal: block lists and protected brands from files in the formats
public phishing and malware lists are published in.

A block-list file may be, line by line and mixed:

- a plain domain list (``evil.example``, ``*.evil.example``, ``||evil.example^`` of adblock lists);
- a hosts file (``0.0.0.0 evil.example``, ``127.0.0.1 evil.example other.example``);
- a URL list (``http://evil.example/login.php``): the URL's host is blocked;
- CSV with a header naming a ``url`` column (PhishTank's ``phish_id,url,...``, URLhaus's
  ``"id","dateadded","url",...`` whose header line starts with ``#``) or a ``domain``/``host``
  column; rows without one take their first field that reads as a URL or a domain.

``#`` and ``!`` start comments (a URLhaus header comment is read as the header). Hosts are
canonicalised like report URLs (lower case, IDNA), so ``xn--`` and Unicode spellings match.

A brand file is CSV ``brand,domain`` (one official domain per row; a brand on several rows has
them all), ``#`` comments allowed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

from shared.text import canonical_url

_HOSTS_ADDRESSES = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "0", "255.255.255.255"})
_BRAND_RE = re.compile(r"^[a-z0-9]{3,}$")
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "local", "broadcasthost"})


def host_of(item: str) -> str | None:
    """The canonical host named by a feed entry (domain, wildcard, adblock rule or URL)."""
    item = item.strip().strip('"').strip()
    if item.startswith("||"):
        item = item[2:].split("^", 1)[0]
    item = item.removeprefix("*.").removeprefix(".")
    if not item or item.lower() in _LOCAL_NAMES:
        return None
    canonical = canonical_url(item)
    if canonical is None or item in _HOSTS_ADDRESSES:  # a hosts file's sink, not a site
        return None
    return canonical.host


def _csv_hosts(lines: list[str]) -> Iterable[str]:
    header = [h.strip().strip('"').lower() for h in next(csv.reader([lines[0]]))]
    column = next((header.index(c) for c in ("url", "domain", "host") if c in header), None)
    body = lines[1:] if column is not None else lines
    for record in csv.reader(io.StringIO("\n".join(body))):
        fields = [record[column]] if column is not None and column < len(record) else record
        for field in fields:
            host = host_of(field) if "." in field else None
            if host is not None:
                yield host
                break


def parse_blocklist(text: str) -> set[str]:
    """Hosts blocked by a feed file's text (see the module docstring for the formats)."""
    hosts: set[str] = set()
    csv_lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("!"):
            continue
        if line.startswith("#"):
            # URLhaus states its CSV header as a comment: "# id,dateadded,url,...".
            if line.count(",") >= 2 and not csv_lines:
                csv_lines.append(line.lstrip("# "))
            continue
        if "," in line:
            csv_lines.append(line)
            continue
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if parts[0] in _HOSTS_ADDRESSES or (len(parts) > 1 and _is_address(parts[0])):
            candidates = parts[1:]
        else:
            candidates = parts[:1]
        for item in candidates:
            host = host_of(item)
            if host is not None:
                hosts.add(host)
    if csv_lines:
        hosts.update(_csv_hosts(csv_lines))
    return hosts


def _is_address(token: str) -> bool:
    c = canonical_url(token)
    return c is not None and c.is_ip


def parse_brands(text: str) -> dict[str, set[str]]:
    """Brand name -> its official registrable domains, from ``brand,domain`` CSV rows;
    ValueError naming the line of a malformed row."""
    brands: dict[str, set[str]] = {}
    for number, record in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not record or not record[0].strip() or record[0].lstrip().startswith("#"):
            continue
        if len(record) < 2:
            raise ValueError(f"line {number}: expected brand,domain")
        name = record[0].strip().lower()
        if name == "brand" and record[1].strip().lower() == "domain":
            continue
        canonical = canonical_url(record[1].strip())
        if not _BRAND_RE.match(name) or canonical is None or not canonical.registered_domain:
            raise ValueError(f"line {number}: bad brand {name!r} or domain {record[1]!r}")
        brands.setdefault(name, set()).add(canonical.registered_domain)
    return brands
