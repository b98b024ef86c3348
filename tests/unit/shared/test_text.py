"""Behaviour of shared.text: what rules, dedup and aggregation will see for real reports."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.text import canonicalise_url, extract_urls, fingerprint, fold, normalise

CYRILLIC_A = "\u0430"
ZWSP = "\u200b"
INVISIBLES = (
    "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Text that mixes evasion characters with ordinary ones, so properties exercise them often.
evasive_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(INVISIBLES + "aeo01345$@!|.-_* \n\t" + CYRILLIC_A + "\u0301")),
        st.characters(),
    )
)


# --- normalise ---------------------------------------------------------------------------


def test_normalise_removes_zero_width_and_bidi_characters_inside_words() -> None:
    assert normalise(f"pay{ZWSP}pal\u202e ver\u00adify\ufeff") == "paypal verify"


def test_normalise_collapses_all_whitespace_to_single_spaces() -> None:
    assert normalise("  hello\n\n\tworld \r\n again\u00a0now  ") == "hello world again now"


def test_normalise_does_not_glue_words_split_by_a_carriage_return() -> None:
    assert normalise("free\rmoney") == "free money"


def test_normalise_drops_control_characters() -> None:
    assert normalise("be\x00ll\x07s") == "bells"


def test_normalise_applies_nfkc_to_fullwidth_and_ligatures() -> None:
    assert normalise("\uff46\uff52\uff45\uff45 \ufb01sh") == "free fish"  # fullwidth, ligature


def test_normalise_keeps_case_and_accents_for_display() -> None:
    assert normalise("Café ÉTÉ") == "Café ÉTÉ"


def test_normalise_removes_every_format_character_this_python_knows() -> None:
    # Guards the explicit character list against a newer Unicode adding format characters.
    planes = (range(0x20000), range(0xE0000, 0xE1000))
    format_chars = [chr(cp) for r in planes for cp in r if unicodedata.category(chr(cp)) == "Cf"]
    assert normalise("a" + "".join(format_chars) + "b") == "ab"


# --- fold --------------------------------------------------------------------------------


def test_fold_defeats_leetspeak_and_cyrillic_lookalikes() -> None:
    assert fold(f"Y0u 1d10t, fr33 p{CYRILLIC_A}yp{CYRILLIC_A}l") == "you idiot, free paypal"


def test_fold_sees_through_zero_width_inside_a_word() -> None:
    assert fold(f"id{ZWSP}i{ZWSP}ot") == "idiot"


def test_fold_keeps_numbers_that_are_not_inside_words() -> None:
    assert fold("Call 555 1234 or +44 7700 900123") == "call 555 1234 or +44 7700 900123"


def test_fold_undoes_symbol_leetspeak_but_keeps_mentions_and_exclamations() -> None:
    assert fold("$hit a$$ h@ck sh!t") == "shit ass hack shit"
    assert fold("@john wow! | ok") == "@john wow! | ok"


def test_fold_joins_single_letters_split_by_dots_dashes_underscores_or_stars() -> None:
    assert fold("you i.d.i.o.t.") == "you idiot."
    assert fold("s-t-u-p-i-d f*r*e*e 1_d_1_0_t") == "stupid free idiot"


def test_fold_leaves_abbreviations_versions_and_hosts_alone() -> None:
    text = "e.g. i.e. 1.2.3 192.168.0.1 555-12-34 www.a.b.example.com"
    assert fold(text) == "e.g. i.e. 1.2.3 192.168.0.1 555-12-34 w.a.b.example.com"


def test_fold_squeezes_stretched_letters_but_not_digits() -> None:
    assert fold("stuuuuupid!!! 10000") == "stupid!!! 10000"
    assert fold("idiooooot worthlesssss fuuuull") == "idiot worthless full"


def test_fold_joins_single_letters_split_by_spaces_or_emoji() -> None:
    assert fold("you i d i o t") == "you idiot"
    assert fold("i🤬d🤬i🤬o🤬t and s 💩 t 💩 u 💩 p 💩 i 💩 d") == "idiot and stupid"
    assert fold("y 0 u l 0 s e r") == "youloser"


def test_fold_drops_padding_symbols_inside_words() -> None:
    assert fold("id*iot f🤬ck st~up^id") == "idiot fck stupid"


def test_fold_leaves_spaced_numbers_pairs_and_punctuation_alone() -> None:
    text = "call 5 5 5 1 2 3 4, r u ok? a b, AT&T and/or e-mail 3 / 4"
    assert fold(text) == "call 5 5 5 1 2 3 4, r u ok? a b, at&t and/or e-mail 3 / 4"


def test_fold_strips_accents_and_zalgo_marks() -> None:
    assert fold("Ünïcödé naïve") == "unicode naive"
    assert fold("h\u0338\u0321\u032ae\u0336l\u0335l\u0337o") == "hello"


def test_fold_maps_greek_capitals_by_how_they_look() -> None:
    # Capital eta looks like 'H'; its lower case would look like 'n'.
    assert fold("\u0397\u0395LLO \u0391\u0392\u0399") == "hello abi"


def test_fold_reads_fancy_unicode_fonts_as_plain_letters() -> None:
    bold = "\U0001d41f\U0001d42b\U0001d41e\U0001d41e"  # mathematical bold "free"
    small_caps = "\u1d18\u1d00\u028f\u1d18\u1d00\u029f"  # "paypal" in small capitals
    squared = "\U0001f17f\U0001f170\U0001f188"  # negative squared "PAY"
    fullwidth = "\uff26\uff32\uff25\uff25"
    assert fold(f"{bold} {small_caps} {squared} {fullwidth}") == "free paypal pay free"


def test_fold_leaves_scripts_without_lookalikes_untouched() -> None:
    text = "がぎ 한국어 नमस्ते مرحبا 你好"
    assert fold(text) == text


def test_fold_of_empty_and_blank_text_is_empty() -> None:
    assert fold("") == fold(f" {ZWSP}\n\t ") == ""


# --- extract_urls ------------------------------------------------------------------------


def test_extract_urls_finds_scheme_www_and_bare_domain_links() -> None:
    text = "Go to https://Example.com/a?b=1, www.shop.example.org or paypa1-login.com/verify!"
    assert extract_urls(text) == [
        "https://Example.com/a?b=1",
        "www.shop.example.org",
        "paypa1-login.com/verify",
    ]


def test_extract_urls_refangs_defanged_links() -> None:
    text = "IOC: hxxp://evil[.]com/payload and hxxps[:]//bad(.)example[.]net, also c2[dot]xyz"
    assert extract_urls(text) == [
        "http://evil.com/payload",
        "https://bad.example.net",
        "c2.xyz",
    ]


def test_extract_urls_sees_through_a_zero_width_split_link() -> None:
    assert extract_urls(f"login at paypal-secure{ZWSP}.com now") == ["paypal-secure.com"]


def test_extract_urls_deduplicates_preserving_order() -> None:
    text = "b.com a.com https://x.io b.com https://x.io a.com"
    assert extract_urls(text) == ["b.com", "a.com", "https://x.io"]


def test_extract_urls_trims_sentence_punctuation_but_keeps_balanced_parentheses() -> None:
    text = "See (https://en.wikipedia.org/wiki/Foo_(bar)). Or https://a.com/x."
    assert extract_urls(text) == ["https://en.wikipedia.org/wiki/Foo_(bar)", "https://a.com/x"]


def test_extract_urls_ignores_emails_versions_and_unknown_suffixes() -> None:
    assert extract_urls("mail me@foo.com, v1.2.3, config.notatld, e.g. this") == []


def test_extract_urls_of_plain_text_is_empty() -> None:
    assert extract_urls("nothing to see here, move along") == []


# --- canonicalise_url --------------------------------------------------------------------


def test_canonicalise_decodes_and_flags_a_punycode_lookalike_host() -> None:
    c = canonicalise_url("xn--pypal-4ve.com/login")
    assert c is not None
    assert c.host == f"p{CYRILLIC_A}ypal.com"
    assert c.registered_domain == f"p{CYRILLIC_A}ypal.com"
    assert c.ascii_host == "xn--pypal-4ve.com"
    assert c.is_punycode
    assert c.url == "https://xn--pypal-4ve.com/login"


def test_canonicalise_gives_the_unicode_and_punycode_spellings_one_url() -> None:
    unicode_form = canonicalise_url(f"https://p{CYRILLIC_A}ypal.com/login")
    assert unicode_form is not None
    assert unicode_form.is_punycode
    assert unicode_form == canonicalise_url("https://xn--pypal-4ve.com/login")


def test_canonicalise_leaves_plain_ascii_hosts_unflagged() -> None:
    c = canonicalise_url("https://paypal.com/")
    assert c is not None
    assert not c.is_punycode
    assert not c.is_ip


def test_canonicalise_strips_tracking_params_and_sorts_the_rest() -> None:
    raw = "https://shop.example.com/item?utm_source=x&UTM_Campaign=y&fbclid=1&b=2&a=1&gclid=z#top"
    c = canonicalise_url(raw)
    assert c is not None
    assert c.url == "https://shop.example.com/item?a=1&b=2"
    assert c.had_tracking_params


def test_canonicalise_reports_no_tracking_when_there_was_none() -> None:
    c = canonicalise_url("https://example.com/search?q=cats")
    assert c is not None
    assert c.url == "https://example.com/search?q=cats"
    assert not c.had_tracking_params


def test_canonicalise_adds_https_and_lowercases_host_but_keeps_path_case() -> None:
    c = canonicalise_url("Sub.Example.COM/Some/Path")
    assert c is not None
    assert (c.url, c.scheme, c.host, c.path) == (
        "https://sub.example.com/Some/Path",
        "https",
        "sub.example.com",
        "/Some/Path",
    )


def test_canonicalise_drops_default_ports_and_keeps_others() -> None:
    assert _url("HTTP://example.com:80/") == "http://example.com/"
    assert _url("https://example.com:443/") == "https://example.com/"
    assert _url("https://example.com:8443/") == "https://example.com:8443/"


def test_canonicalise_resolves_dot_segments_and_fragments() -> None:
    assert _url("https://example.com/a/./b/../c/?x=1#frag") == "https://example.com/a/c/?x=1"


def test_canonicalise_uppercases_percent_escapes() -> None:
    assert _url("https://example.com/a%2fb?q=%e2%82%ac") == "https://example.com/a%2Fb?q=%E2%82%AC"


def test_canonicalise_sees_the_real_host_behind_userinfo_and_backslash_tricks() -> None:
    assert _host("https://paypal.com@evil.example./login") == "evil.example"
    assert _host("https://bank.example\\@evil.example/") == "bank.example"


def test_canonicalise_finds_the_registered_domain_under_a_public_suffix() -> None:
    c = canonicalise_url("https://login.secure.example.co.uk/")
    assert c is not None
    assert (c.registered_domain, c.suffix) == ("example.co.uk", "co.uk")


def test_canonicalise_refangs_defanged_input() -> None:
    assert _url("hxxp://evil[.]com/payload") == "http://evil.com/payload"


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("http://192.168.1.1/", "192.168.1.1"),
        ("http://3232235777/", "192.168.1.1"),
        ("http://0xc0a80101/", "192.168.1.1"),
        ("http://0300.0250.1.1/", "192.168.1.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://[2001:DB8:0::1]:8080/", "2001:db8::1"),
    ],
)
def test_canonicalise_flags_ip_hosts_in_every_spelling_a_browser_accepts(
    raw: str, host: str
) -> None:
    c = canonicalise_url(raw)
    assert c is not None
    assert c.is_ip
    assert c.host == c.registered_domain == host
    assert not c.is_punycode


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "ftp://files.example.com/",
        "http://",
        "https://exa mple.com/",
        "https://xn--abc-.com/",
        "https://a..com/",
        "http://999.1.1.1/",
        "http://[::zz]/",
        "https://example.com:99999/",
    ],
)
def test_canonicalise_returns_none_for_unusable_urls(raw: str) -> None:
    assert canonicalise_url(raw) is None


# --- fingerprint -------------------------------------------------------------------------


def test_fingerprint_of_a_subject_id_follows_the_documented_rule() -> None:
    expected = hashlib.sha256(b"subject\x00message:42").hexdigest()
    got = fingerprint(subject_type="message", subject_id="42", content="anything", urls=["a.com"])
    assert got == expected


def test_fingerprint_separates_subject_types_with_the_same_id() -> None:
    a = fingerprint(subject_type="message", subject_id="42", content=None, urls=[])
    b = fingerprint(subject_type="account", subject_id="42", content=None, urls=[])
    assert a != b


def test_fingerprint_aggregates_evasive_variants_of_the_same_content() -> None:
    plain = fingerprint(
        subject_type="message",
        subject_id=None,
        content="FREE MONEY at paypal",
        urls=["https://evil.com/x", "https://b.example/"],
    )
    evasive = fingerprint(
        subject_type="comment",
        subject_id=None,
        content=f"fr33  m0n{ZWSP}ey at p{CYRILLIC_A}ypal",
        urls=["b.example", "HTTPS://EVIL.com/x?utm_source=spam#top", "https://evil.com/x"],
    )
    assert plain == evasive


def test_fingerprint_tells_different_links_apart() -> None:
    a = fingerprint(subject_type="m", subject_id=None, content="hi", urls=["a.example/x"])
    b = fingerprint(subject_type="m", subject_id=None, content="hi", urls=["a.example/y"])
    assert a != b


def test_fingerprint_of_content_never_collides_with_an_id() -> None:
    by_id = fingerprint(subject_type="message", subject_id="123", content=None, urls=[])
    by_text = fingerprint(subject_type="message", subject_id=None, content="message:123", urls=[])
    assert by_id != by_text


def test_fingerprint_is_64_hex_characters() -> None:
    fp = fingerprint(subject_type="m", subject_id=None, content="hello", urls=[])
    assert len(fp) == 64
    assert int(fp, 16) >= 0


def test_fingerprint_refuses_a_report_with_nothing_to_identify() -> None:
    with pytest.raises(ValueError, match="nothing to fingerprint"):
        fingerprint(subject_type="message", subject_id=None, content=f" {ZWSP} ", urls=[])


# --- properties --------------------------------------------------------------------------

url_label = st.text(alphabet="abcxyz019-" + CYRILLIC_A + "é", min_size=1, max_size=10)
url_strategy = st.builds(
    lambda scheme, labels, tld, port, segs, params, frag: (
        f"{scheme}{'.'.join(labels)}.{tld}{port}/{'/'.join(segs)}"
        + ("?" + "&".join(params) if params else "")
        + frag
    ),
    st.sampled_from(["", "http://", "HTTPS://", "//"]),
    st.lists(url_label, min_size=1, max_size=3),
    st.sampled_from(["com", "co.uk", "xn--p1ai", "рф", "zz"]),
    st.sampled_from(["", ":80", ":443", ":8080"]),
    st.lists(st.sampled_from([".", "..", "a", "B", "%2f", "x y", "é"]), max_size=4),
    st.lists(st.sampled_from(["utm_source=1", "b=2", "a=1", "fbclid=x", "", "q=%e2"]), max_size=4),
    st.sampled_from(["", "#frag"]),
)


@given(evasive_text)
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@given(evasive_text)
def test_fold_of_normalised_text_equals_fold_of_raw_text(text: str) -> None:
    assert fold(normalise(text)) == fold(text)


@given(evasive_text)
def test_fold_is_idempotent(text: str) -> None:
    once = fold(text)
    assert fold(once) == once


@given(evasive_text)
def test_fold_output_never_contains_invisible_characters(text: str) -> None:
    assert not set(fold(text)) & set(INVISIBLES)


@settings(deadline=None)
@given(st.one_of(url_strategy, st.text()))
def test_canonicalise_is_idempotent_on_its_own_url(raw: str) -> None:
    first = canonicalise_url(raw)
    if first is not None:
        again = canonicalise_url(first.url)
        assert again is not None
        assert again.url == first.url


@settings(deadline=None)
@given(st.text())
def test_extract_urls_never_raises_and_returns_distinct_strings(text: str) -> None:
    urls = extract_urls(text)
    assert len(urls) == len(set(urls))


def _canonical(raw: str) -> tuple[str, str]:
    c = canonicalise_url(raw)
    assert c is not None, raw
    return c.url, c.host


def _url(raw: str) -> str:
    return _canonical(raw)[0]


def _host(raw: str) -> str:
    return _canonical(raw)[1]
