"""The labelled sets: disjoint by construction, e-mails read as a report would carry them."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from services.classifier.corpora import (
    SourcedRow,
    build_sets,
    dedup,
    email_text,
    read_sourced,
    split,
    split_of,
    vader_tweet_rows,
)
from services.classifier.settings import PACKAGE
from services.classifier.training import read_rows
from shared.text import fold

DATA = PACKAGE / "data"


def _folded(name: str) -> set[str]:
    return {fold(r.text) for r in read_rows(DATA / name)}


def test_the_evaluation_set_shares_no_normalised_text_with_training_or_calibration() -> None:
    train, calibration, evaluation = (
        _folded(n) for n in ("train.csv", "calibration.csv", "eval.csv")
    )
    assert not evaluation & train, sorted(evaluation & train)[:5]
    assert not evaluation & calibration, sorted(evaluation & calibration)[:5]
    assert not calibration & train, sorted(calibration & train)[:5]


def test_every_shipped_row_sits_in_the_set_its_folded_text_hashes_to() -> None:
    for name in ("train", "calibration", "eval"):
        misplaced = [r.text for r in read_rows(DATA / f"{name}.csv") if split_of(r.text) != name]
        assert not misplaced, (name, misplaced[:3])


def test_the_shipped_sets_name_their_sources() -> None:
    sources = {
        r.source for n in ("train", "calibration", "eval") for r in read_rows(DATA / f"{n}.csv")
    }
    assert sources == {
        "spamassassin-2002",
        "spamassassin-2003",
        "chatterbot-corpus",
        "project-templates",
        "project-short-messages",
        "vader-tweets",
    }


def test_no_premium_rate_sms_spam_is_written_into_the_short_messages() -> None:
    # The held-out judge is an SMS collection of premium-rate spam ("Txt WIN to 80123",
    # "call 09061...", "150p/msg"): written look-alikes of its messages are kept out of training.
    rows = read_sourced(DATA / "short_messages.csv", "project-short-messages")
    assert {r.label for r in rows} == {"none", "scams_fraud"}


def _vader_sdist(folder: Path, tweets: str) -> Path:
    archive = folder / "additional_resources" / "hutto_ICWSM_2014.tar.gz"
    archive.parent.mkdir(parents=True)
    data = tweets.encode("utf-8")
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("hutto_ICWSM_2014/tweets_GroundTruth.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return folder


def test_vader_tweets_become_none_rows_without_the_study_placeholders(tmp_path: Path) -> None:
    sdist = _vader_sdist(
        tmp_path / "vaderSentiment-3.3.2",
        "1\t2.1\t@anonymous well done with your marathon time :-)\r\n"
        "2\t0.5\tnew blog post up http://url_removed &amp; more soon\r\n"
        "3\t0.1\t@anonymous\r\n"
        "broken line without fields\r\n",
    )
    assert vader_tweet_rows(sdist) == [
        SourcedRow("well done with your marathon time :-)", "none", "vader-tweets"),
        SourcedRow("new blog post up & more soon", "none", "vader-tweets"),
    ]


def test_a_folder_without_the_vader_archive_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"hutto_ICWSM_2014\.tar\.gz"):
        vader_tweet_rows(tmp_path)


def test_spellings_of_one_message_land_in_one_set_and_conflicts_are_dropped() -> None:
    rows = [
        SourcedRow("FREE prize, claim now", "spam", "a"),
        SourcedRow("fr33 pr1ze, cl@im n0w", "spam", "b"),  # folds to the same text
        SourcedRow("Free   PRIZE, claim now", "spam", "c"),
        SourcedRow("see you at lunch", "none", "a"),
        SourcedRow("See you at lunch", "spam", "b"),  # the same text with another label
    ]
    assert dedup(rows) == [rows[0]]
    sets = split(rows)
    assert sum(len(v) for v in sets.values()) == 1
    assert split_of("fr33 pr1ze, cl@im n0w") == split_of("FREE prize, claim now")


def test_an_email_becomes_its_subject_and_body_without_headers_quotes_or_html() -> None:
    raw = (
        "From: someone@example.org\nSubject: Cheap meds\nContent-Type: text/html\n\n"
        "<html><body><p>Buy <b>now</b> &amp; save</p>\n> quoted reply\n</body></html>\n"
    )
    assert email_text(raw) == "Cheap meds Buy now & save"


def test_build_sets_writes_three_disjoint_files_from_the_package_layout(tmp_path: Path) -> None:
    package = tmp_path / "package"
    for group in ("easy-ham-1", "hard-ham-1", "spam-1", "easy-ham-2", "spam-2"):
        folder = package / "data" / group
        folder.mkdir(parents=True)
        for i in range(30):
            body = f"message {i} of {group}: " + (
                "win money now " if "spam" in group else "meeting notes "
            )
            record = {"id": f"{i:05d}", "group": group, "text": f"Subject: s{i}\n\n{body * 3}"}
            (folder / f"{i:05d}.json").write_text(json.dumps(record), encoding="utf-8")
    templates = tmp_path / "templates.csv"
    templates.write_text("text,label\nyou worthless idiot,harassment\n", encoding="utf-8")
    counts = build_sets(package, [templates], tmp_path)
    rows = {n: read_sourced(tmp_path / f"{n}.csv", "") for n in ("train", "calibration", "eval")}
    assert sum(sum(c.values()) for c in counts.values()) == 151
    folded = [{fold(r.text) for r in part} for part in rows.values()]
    assert not (folded[0] & folded[1] or folded[0] & folded[2] or folded[1] & folded[2])
    labels = {(r.source, r.label) for part in rows.values() for r in part}
    assert ("spamassassin-2003", "spam") in labels
    assert ("project-templates", "harassment") in labels
