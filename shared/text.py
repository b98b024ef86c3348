"""Text normalisation, evasion folding and URL handling for report processing.

Pure, and run on every report: regexes and tables are built once, at import.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import idna
import tldextract

# All Cc/Cf of Unicode 15.1 but whitespace controls (split() makes "a\rb" read "a b"), plus
# fillers that render as nothing yet are letters or marks (U+034F, Hangul, Khmer, Mongolian):
# classic "split the banned word" evasions. Ranges keep sre's class scan short.
_INVISIBLE_RE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f"
    "\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]+"
)
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]+")


def normalise(text: str) -> str:
    """Return the display form: NFKC, without invisible/format/control characters
    (zero-width, soft hyphen, bidi controls, BOM, ...), whitespace runs as one space, stripped.
    """
    if text.isascii():
        text = text if text.isprintable() else _ASCII_CONTROL_RE.sub("", text)
    else:
        # Removal precedes NFKC so "e<ZWSP><U+0301>" composes now, keeping this idempotent.
        text = unicodedata.normalize("NFKC", _INVISIBLE_RE.sub("", text))
    return " ".join(text.split())


# Look-alikes keyed on both cases: casefold would turn the Greek capital eta (looks like
# 'H') into a small eta (looks like 'n'). Values are what a reader would see.
_LOOKALIKE_PAIRS = (
    ("АВЕЅІЈКМНОРСТХУҮԜӀԚ", "abesijkmhopctxyywlq"),  # Cyrillic capitals
    ("аеорсхуіјѕԁһԛԝӏвкмнтьгүѵѡп", "aeopcxyijsdhqwlbkmhtbryvwn"),  # Cyrillic small
    ("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧϹ", "abezhikmnoptyxc"),  # Greek capitals  # noqa: RUF001
    ("αβγεικνορτυχωημϲϳ", "abyeikvoptuxwnucj"),  # Greek small
    ("ՕՍՏօսհոցզ", "ousouhngq"),  # Armenian  # noqa: RUF001
    ("ıɑɡɩɪʋøđłħŧƀɇɨƶ", "iagiiuodlhtbeiz"),  # Latin variants without a decomposition
    ("ᴀʙᴄᴅᴇꜰɢʜᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghjklmnoprstuvwyz"),  # small capitals
)
_LOOKALIKE: dict[str, str] = {"æ": "ae", "œ": "oe"}
for _src, _dst in _LOOKALIKE_PAIRS:
    _LOOKALIKE.update(zip(_src, _dst, strict=True))
# "Fancy text" generators use negative circled/squared letters, which NFKC leaves alone.
for _i in range(26):
    _LOOKALIKE[chr(0x1F150 + _i)] = _LOOKALIKE[chr(0x1F170 + _i)] = chr(0x61 + _i)
del _src, _dst, _i

# Combining-mark blocks (diacritics, Zalgo stacking, variation selectors). Indic vowel
# signs are marks too but carry meaning, so only these ranges are dropped.
_MARK_RANGES: tuple[tuple[int, int], ...] = ((0x0300, 0x036F), (0x0483, 0x0489), (0x1AB0, 0x1AFF))
_MARK_RANGES += ((0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE00, 0xFE0F), (0xFE20, 0xFE2F))
_MARK_RANGES += ((0xE0100, 0xE01EF),)


def _fold_char(ch: str) -> str:
    if ch in _LOOKALIKE:
        return _LOOKALIKE[ch]
    out: list[str] = []
    for c in ch.casefold():
        if any(lo <= ord(c) <= hi for lo, hi in _MARK_RANGES):
            continue
        nfd = unicodedata.normalize("NFD", c)
        # Latin/Greek/Cyrillic only: stripping kana voicing marks would change the word.
        strip = ord(nfd[0]) < 0x0530 or 0x1E00 <= ord(nfd[0]) < 0x2000
        base = nfd[0] if strip and all(map(unicodedata.combining, nfd[1:])) else c
        out.append(_LOOKALIKE.get(base, base))
    return "".join(out)


def _build_fold_table() -> dict[int, str | None]:
    # One table does casefold + look-alikes + diacritics, so fold is a single translate.
    extra = {ord(c) for c in _LOOKALIKE}
    extra.update(cp for lo, hi in _MARK_RANGES for cp in range(lo, hi + 1))
    table: dict[int, str | None] = {}
    for cp in sorted(extra.union(range(0x20000))):
        ch = chr(cp)
        if cp not in extra and ch.casefold() == ch and not unicodedata.decomposition(ch):
            continue
        folded = _fold_char(ch)
        if folded != ch:
            table[cp] = folded or None
    return table


_FOLD_TABLE = _build_fold_table()
# Leet digits/symbols to letters, and the separators of a dotted word dropped: a leet
# token never holds a separator, so one table serves both rewrites.
_UNMASK_TABLE = str.maketrans("0134578@$!|", "oieastbasil", ".-_*")
_LEET_CHAR_RE = re.compile(r"[0134578@$!|]")
# '$' may lead or trail ("$hit", "a$$"); '@', '!' and '|' count only between word
# characters so "@mentions" and "wow!" survive. The lookahead skips tokens without a
# leet character before any Python callback runs.
_LEET_TOKEN_RE = re.compile(
    r"(?<![^\W_])(?=\$|[^\W_]*(?:[0134578$]|[@!|]+[^\W_]))"
    r"\$*[^\W_](?:[^\W_]|[@$!|]+(?=[^\W_]))*\$*"
)
_LETTER_RE = re.compile(r"[^\W\d_]")
_UNIT = r"(?:[^\W_]|[@$!|])"
_SEP = r"[.\-_*]"
# Three or more single characters joined by one separator each ("i.d.i.o.t"); the
# look-arounds stop it from eating pieces of "www.a.b.example.com" or "e.g.".
_DOTTED_RE = re.compile(
    rf"(?=.{_SEP})(?<![^\W_])(?<![@$!|])(?<![^\W_]{_SEP})(?<![@$!|]{_SEP})"
    rf"{_UNIT}(?:{_SEP}{_UNIT}){{2,}}(?!{_UNIT})(?!{_SEP}{_UNIT})"
)
_REPEAT_RE = re.compile(r"(.)\1\1+")
# Symbols that pad a word without being punctuation of the sentence: stars, tildes, carets,
# bullets, dingbats and emoji. Listed, not "anything but \\w": marks such as Indic viramas
# are not \\w either, yet belong to the word.
_PAD = "[*~^`\u00b7\u2022\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff]"
# Three or more single characters split by spaces or padding symbols ("i d i o t",
# "i🤬d🤬i🤬o🤬t", "y o u  s u c k"); each piece must stand alone, so "a b" and "e.g." stay.
_SPACED_RE = re.compile(rf"(?<![\w@$]){_UNIT}(?:(?:\s+|\s*{_PAD}+\s*){_UNIT}){{2,}}(?![\w@$])")
# Padding symbols inside a word ("id*iot", "f🤬ck").
_INNER_PAD_RE = re.compile(rf"(?<=[^\W_]){_PAD}+(?=[^\W_])")
_UNIT_CHAR_RE = re.compile(rf"{_UNIT}")
_PAD_RE = re.compile(_PAD)
_ASCII_PAD_RE = re.compile(r"[*~^`]")
# Two single characters split by spaces: what a spaced word without padding starts with.
_SINGLE_RE = re.compile(rf"(?<![\w@$]){_UNIT}\s+{_UNIT}(?![\w@$])")


def _unmask(m: re.Match[str]) -> str:
    # Only matches holding a letter are words: "1-2-3" and "call 555 1234" stay numbers.
    s = m.group()
    return s.translate(_UNMASK_TABLE) if _LETTER_RE.search(s) else s


def _join(m: re.Match[str]) -> str:
    # The pieces of a spaced word together, leetspeak undone; pieces without a letter
    # ("1 2 3") are numbers and stay as written.
    s = m.group()
    if not _LETTER_RE.search(s):
        return s
    return "".join(_UNIT_CHAR_RE.findall(s)).translate(_UNMASK_TABLE)


# Letters English doubles inside and at the end of words ("free", "off", "kill", "less"):
# stretched, they shrink to two; every other letter to one ("idiooooot" -> "idiot").
_DOUBLED = frozenset("efls")


def _squeeze(m: re.Match[str]) -> str:
    s = m.group()
    if not s[0].isalpha():
        return s
    return s[:2] if s[0] in _DOUBLED else s[0]


def fold(text: str) -> str:
    """Return the lossy matching form for rules and models (never shown to people):

    :func:`normalise`, casefold, Cyrillic/Greek/Armenian/small-capital look-alikes to Latin,
    Latin/Greek/Cyrillic diacritics and Zalgo marks stripped, padding symbols inside words
    dropped ("id*iot", "f🤬ck"), dotted single letters joined ("i.d.i.o.t"), leetspeak
    (0134578@$!| -> oieastbasil) undone only in tokens holding a letter, letters repeated 3+
    times squeezed to one ("idiooooot"; e, f, l and s to two: "worthlesssss"), single letters
    split by spaces or symbols joined ("i d i o t", "i🤬d🤬i🤬o🤬t"). So "www" -> "w",
    "mp3" -> "mpe".
    """
    text = normalise(text)
    # ASCII only needs str.lower. Otherwise split/join drops the space that NFKC puts
    # before a spacing accent once the table has stripped the accent itself.
    text = text.lower() if text.isascii() else " ".join(text.translate(_FOLD_TABLE).split())
    # Most texts hold no padding symbol: the scans for them are skipped.
    padded = _PAD_RE.search(text) if not text.isascii() else _ASCII_PAD_RE.search(text)
    if padded:
        text = _INNER_PAD_RE.sub("", text)
    text = _DOTTED_RE.sub(_unmask, text)
    if _LEET_CHAR_RE.search(text):
        text = _LEET_TOKEN_RE.sub(_unmask, text)
    text = _REPEAT_RE.sub(_squeeze, text)
    if padded or _SINGLE_RE.search(text):
        joined = _SPACED_RE.sub(_join, text)
        if joined != text:
            text = _REPEAT_RE.sub(_squeeze, joined)
    return text


@functools.cache
def _tld_extractor() -> tldextract.TLDExtract:
    # No URLs, no cache dir: use the suffix-list snapshot shipped in the package, offline.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


_REFANG_SCHEME_RE = re.compile(r"\bh(?:xx|\*\*|tt)p(s?)(?:\[:\]//|:\[//\]|\[://\]|://)", re.I)
_REFANG_DOT_RE = re.compile(r"\[\.\]|\(\.\)|\{\.\}|\s?[\[({]dot[\])}]\s?", re.I)
_URL_RE = re.compile(
    r"""
    (?P<scheme>https?://[\w\[][^\s<>"'`]*)
  | (?P<www>(?<![\w@.-])www\d{0,3}\.[^\s<>"'`]+)
  | (?<![\w@./:-])
    (?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})(?![\w@-])
    (?::\d{1,5})?(?:[/?#][^\s<>"'`]*)?
    """,
    re.I | re.X,
)
_TRAILING_PUNCT = ".,;:!?'\")]}>"
_HOST_END_RE = re.compile(r"[:/?#]")


def _refang_scheme(m: re.Match[str]) -> str:
    return f"http{m.group(1)}://"


def _refang(text: str) -> str:
    # Each substitution runs only when the text can hold what it rewrites: every defanged dot
    # has a bracket, and a scheme is rewritten only when defanged ("hxxp", "h**p", brackets)
    # or not in lower case. Most texts have neither, and the two scans cost more than the rest.
    has_bracket = "[" in text or "(" in text or "{" in text
    lower = text.lower()
    if ("[" in text or "hxxp" in lower or "h**p" in lower) or lower.count("http") != text.count(
        "http"
    ):
        # A function, not a template: the template would be re-parsed on every call.
        text = _REFANG_SCHEME_RE.sub(_refang_scheme, text)
    return _REFANG_DOT_RE.sub(".", text) if has_bracket else text


def _trim(url: str) -> str:
    while url and url[-1] in _TRAILING_PUNCT:
        # Keep a closing paren that balances one in the URL (Wikipedia-style paths).
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _has_public_suffix(url: str) -> bool:
    parts = _tld_extractor()(_HOST_END_RE.split(url, maxsplit=1)[0].lower())
    return bool(parts.suffix and parts.domain)


def extract_urls(text: str) -> list[str]:
    """Return the URLs in ``text``, deduplicated, in order of first appearance.

    Finds http(s):// and ``www.`` links and bare domains with a public suffix
    ("paypa1-login.com/verify"); refangs "hxxp://" and "evil[.]com". Works on normalised
    text, so zero-width characters cannot split a link. URLs are returned as written
    (refanged, trailing punctuation trimmed), not canonicalised.
    """
    text = _refang(normalise(text))
    if "." not in text and "://" not in text:
        return []
    seen: dict[str, None] = {}
    for m in _URL_RE.finditer(text):
        url = _trim(m.group())
        if url and url not in seen and (m.lastgroup or _has_public_suffix(url)):
            seen[url] = None
    return list(seen)


@dataclass(frozen=True, slots=True)
class CanonicalUrl:
    """One spelling per destination. ``url`` carries the IDNA host, so a look-alike reads
    ``xn--...`` there; ``host`` is the Unicode form. ``registered_domain`` is eTLD+1, the
    address itself for IP hosts, "" when the suffix is unknown."""

    url: str
    scheme: str
    host: str
    registered_domain: str
    suffix: str
    path: str
    is_ip: bool
    is_punycode: bool
    ascii_host: str
    had_tracking_params: bool


_TRACKING_RE = re.compile(r"utm_.*|fbclid|[dg]clid|msclkid|mc_[ce]id|igshid|yclid|_ga|ref_src|si")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HTTP_SCHEME_RE = re.compile(r"https?://", re.I)
_OTHER_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.\-]*:(?!\d)", re.I)
_BAD_URL_CHAR_RE = re.compile(r"[\s\x00-\x1f\x7f]")
_ASCII_HOST_RE = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")
_NUMERIC_LABEL_RE = re.compile(r"0x[0-9a-f]*|[0-9]+", re.I)
_IPV4_PART_RE = re.compile(r"0x(?P<hex>[0-9a-f]*)|0(?P<oct>[0-7]+)|(?P<dec>0|[1-9][0-9]*)", re.I)
_PCT_RE = re.compile(r"%[0-9a-f]{2}", re.I)


def _parse_ipv4(host: str) -> str | None:
    # As browsers (WHATWG) parse it, so "3232235777" and "0x7f.1" are seen as the
    # addresses a click really reaches rather than as odd host names.
    values: list[int] = []
    for part in host.split("."):
        m = _IPV4_PART_RE.fullmatch(part)
        if m is None:
            return None
        hex_, oct_, dec = m.group("hex", "oct", "dec")
        base = 16 if hex_ is not None else 8 if oct_ else 10
        values.append(int(hex_ or oct_ or dec or "0", base))
    *head, last = values
    if len(values) > 4 or any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    return str(ipaddress.IPv4Address(sum(v << (24 - 8 * i) for i, v in enumerate(head)) + last))


def _idna_pair(host: str) -> tuple[str, str] | None:
    # (ascii, unicode), or None when a label cannot be converted.
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
        return ascii_host, idna.decode(ascii_host)
    except UnicodeError:  # idna.IDNAError included
        pass
    # IDNA2003 still resolves some names IDNA2008 rejects (emoji, underscores).
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
        return ascii_host, ascii_host.encode("ascii").decode("idna")
    except UnicodeError:
        return None


def _host_info(host: str) -> tuple[str, str, str, str, bool, bool] | None:
    # (host, ascii_host, registered_domain, suffix, is_ip, is_punycode)
    if ":" in host:
        try:
            ip6 = ipaddress.IPv6Address(host).compressed
        except ValueError:
            return None
        return ip6, ip6, ip6, "", True, False
    ascii_host, is_punycode = host, not host.isascii() or "xn--" in host
    if is_punycode:
        pair = _idna_pair(host)
        if pair is None:
            return None
        ascii_host, host = pair
    # Checked after IDNA mapping, as browsers do: a fullwidth-digit host is an address too.
    if _NUMERIC_LABEL_RE.fullmatch(ascii_host.rsplit(".", 1)[-1]):
        ip4 = _parse_ipv4(ascii_host)
        return None if ip4 is None else (ip4, ip4, ip4, "", True, False)
    if len(ascii_host) > 253 or not _ASCII_HOST_RE.fullmatch(ascii_host):
        return None
    tld = _tld_extractor()(host)
    registered = f"{tld.domain}.{tld.suffix}" if tld.domain and tld.suffix else ""
    return host, ascii_host, registered, tld.suffix, False, is_punycode


def _remove_dot_segments(path: str) -> str:
    if "." not in path:
        return path
    out: list[str] = []
    for seg in path.split("/")[1:]:
        if seg == "..":
            out = out[:-1]
        elif seg != ".":
            out.append(seg)
    if path.endswith(("/.", "/..")):
        out.append("")
    return "/" + "/".join(out)


def _upper_pct(m: re.Match[str]) -> str:
    return m.group().upper()


def _clean_query(query: str) -> tuple[str, bool]:
    parts = [part for part in query.split("&") if part]
    # Names are decoded so "utm%5Fsource" cannot slip a tracker past the filter.
    kept = [p for p in parts if not _TRACKING_RE.fullmatch(unquote(p.split("=", 1)[0]).lower())]
    return "&".join(sorted(kept)), len(kept) < len(parts)


def canonicalise_url(raw: str) -> CanonicalUrl | None:
    """Canonicalise an http(s) URL; return None when it is not usable. Never raises.

    Refangs; adds ``https://`` when no scheme is given (any other scheme gives None);
    lower-cases scheme and host; drops userinfo, default ports, trailing host dots, the
    fragment and tracking parameters (utm_*, fbclid, gclid, ...); sorts the remaining
    query; removes dot-segments from the path, keeping its case; upper-cases percent
    escapes. IPv4 in any spelling a browser accepts, and IPv6, set ``is_ip``; other hosts
    must pass IDNA and ``host`` is their Unicode form.
    """
    raw = _refang(raw.strip())
    if not raw or _BAD_URL_CHAR_RE.search(raw):
        return None
    if "\\" in raw:
        # Browsers read a backslash before the query as "/": "a.com\@b.com" goes to a.com.
        before, sep, after = raw.partition("?")
        raw = before.replace("\\", "/") + sep + after
    if raw.startswith("//"):
        raw = "https:" + raw
    elif not _HTTP_SCHEME_RE.match(raw):
        if _OTHER_SCHEME_RE.match(raw):
            return None
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return None
    info = _host_info((parts.hostname or "").rstrip("."))
    if info is None:
        return None
    host, ascii_host, registered, suffix, is_ip, is_punycode = info
    scheme = parts.scheme.lower()
    netloc = f"[{host}]" if ":" in host else ascii_host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = _PCT_RE.sub(_upper_pct, _remove_dot_segments(parts.path or "/"))
    query, had_tracking = _clean_query(parts.query)
    query = _PCT_RE.sub(_upper_pct, query)
    url = f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    return CanonicalUrl(
        url, scheme, host, registered, suffix, path, is_ip, is_punycode, ascii_host, had_tracking
    )


# The same links come back in report after report (a campaign, a viral post), and
# canonicalising one (refang, IDNA, public-suffix lookup) costs more than the rest of a notice.
# Results are immutable, so one copy serves every report.
canonical_url = functools.lru_cache(maxsize=16_384)(canonicalise_url)


def report_urls(given: list[str], normalised: str) -> tuple[list[str], list[str]]:
    """A report's URLs: the canonical form of those given with it and of those in its
    normalised text, once each in order of first appearance; and those of them whose host
    was punycode. Intake computes them once; the classifier reads ``Report.urls``."""
    urls: list[str] = []
    flagged: list[str] = []
    for raw in [*given, *extract_urls(normalised)]:
        canonical = canonical_url(raw)
        if canonical is not None and canonical.url not in urls:
            urls.append(canonical.url)
            if canonical.is_punycode:
                flagged.append(canonical.url)
    return urls, flagged


def fingerprint(
    *, subject_type: str, subject_id: str | None, content: str | None, urls: list[str]
) -> str:
    """Return a stable hex SHA-256 naming the reported thing, so its reports aggregate.

    Rule (changing it splits existing aggregates). With a non-empty ``subject_id``: SHA-256
    of "subject", NUL, ``f"{subject_type}:{subject_id}"``. Otherwise: SHA-256 of "content",
    NUL, ``fold(content)``, then NUL and each distinct canonical URL (``.url``, or
    ``normalise(u)`` if unusable) in sorted order; ``subject_type`` is left out so the same
    spam as a message and as a comment lands in one bucket. The tags keep the two forms
    apart. ValueError when there is no id, no folded text and no URL: nothing to share.
    """
    if subject_id:
        payload = f"subject\x00{subject_type}:{subject_id}"
    else:
        folded = fold(content or "")
        canon = {c.url if (c := canonical_url(u)) else normalise(u) for u in urls} - {""}
        if not folded and not canon:
            msg = "nothing to fingerprint: no subject_id, content or URL"
            raise ValueError(msg)
        payload = "\x00".join(["content", folded, *sorted(canon)])
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()
