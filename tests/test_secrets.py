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
