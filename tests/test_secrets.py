"""Secrets: ${VAR} and *_file resolution, reporting what is missing, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.secrets import (
    REDACTED,
    FileSecret,
    MissingSecret,
    Redactor,
    SecretSource,
    check_template,
    references,
)


def test_env_references_resolve_and_are_redacted_afterwards() -> None:
    redactor = Redactor()
    source = SecretSource(redactor, env={"TOKEN": "s3cr3t-value", "SHOP": "hotrodan"})
    assert source.resolve("https://${SHOP}.myshopify.com/?t=${TOKEN}&p=$$5") == (
        "https://hotrodan.myshopify.com/?t=s3cr3t-value&p=$5"
    )
    assert redactor.redact("error talking to s3cr3t-value") == f"error talking to {REDACTED}"


def test_missing_variable_names_it() -> None:
    source = SecretSource(Redactor(), env={})
    with pytest.raises(MissingSecret, match="environment variable SHOPIFY_ADMIN_TOKEN is not set"):
        source.resolve("${SHOPIFY_ADMIN_TOKEN}")
    assert source.missing(["${A}", "plain", None, "${B}x${A}"]) == [
        "environment variable A",
        "environment variable B",
        "environment variable A",
    ]


def test_file_secrets(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("file-secret-123\n")
    redactor = Redactor()
    source = SecretSource(redactor, env={})
    assert source.resolve(FileSecret(str(path))) == "file-secret-123"
    assert "file-secret-123" not in redactor.redact("x file-secret-123 y")
    with pytest.raises(MissingSecret, match="cannot be read"):
        source.resolve(FileSecret(str(tmp_path / "absent")))
    assert source.missing([FileSecret(str(tmp_path / "absent"))]) == [f"file {tmp_path / 'absent'}"]
    assert references(FileSecret("/x")) == ["file /x"]


@pytest.mark.parametrize("bad", ["${}", "${1X}", "${A B}", "${OPEN"])
def test_malformed_references_are_config_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="malformed reference"):
        check_template(bad)


def test_short_values_are_not_redacted_so_text_stays_readable() -> None:
    redactor = Redactor()
    redactor.add("ab")
    assert redactor.redact("about") == "about"


def test_fragments_of_a_secret_are_redacted_wherever_the_cut_falls() -> None:
    r = Redactor()
    r.add("shpat_SECRET0123456789abcdef")
    # a target that answers only the first characters, without "..." after them
    assert r.redact('found "shpat_SECRE"') == f'found "{REDACTED}"'
    assert "0123456789" not in r.redact("tail: 0123456789abcdef, head: x")
    assert "abcdef" not in r.redact("...6789abcdef")
    # ordinary text that shares a few letters with a secret stays readable
    assert r.redact("shpat is a prefix, SECRET a word") == "shpat is a prefix, SECRET a word"


def test_echoed_authorization_headers_are_redacted() -> None:
    r = Redactor()  # nothing resolved yet: a header's value is still no thing to show
    for text in (
        'found "Basic cHJvYmV1c2VyOnMzY3JldC1wYXNzd29yZA=="',
        'found "Basic cHJvYmV1c2Vy..."',
        "authorization: bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
    ):
        out = r.redact(text)
        assert "cHJvYmV1c2Vy" not in out and "eyJhbGci" not in out, out
        assert REDACTED in out
    # a challenge is no credential
    assert r.redact('WWW-Authenticate: Bearer realm="x"') == 'WWW-Authenticate: Bearer realm="x"'


def test_passwords_in_urls_are_redacted() -> None:
    r = Redactor()
    out = r.redact("GET http://alice:pw-1234@shop.internal:8080/health -> 200")
    assert out == f"GET http://alice:{REDACTED}@shop.internal:8080/health -> 200"
    assert r.redact("postgresql://u:p%40ss@db/x") == f"postgresql://u:{REDACTED}@db/x"
    assert r.redact("see http://host/path?a=b:c@d") == "see http://host/path?a=b:c@d"
