"""X-Hub-Signature-256 verification."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tests.meta_samples import sample_bytes
from whatsapp.signature import sign, verify_signature

SECRET = b"app-secret"
BODY = sample_bytes("message-text.json")


def test_sign_matches_meta_format() -> None:
    expected = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY) == f"sha256={expected}"


def test_valid_signature() -> None:
    assert verify_signature(app_secret=SECRET, raw_body=BODY, header=sign(SECRET, BODY))


def test_uppercase_hex_and_surrounding_space_are_accepted() -> None:
    header = "sha256=" + sign(SECRET, BODY).removeprefix("sha256=").upper()
    assert verify_signature(app_secret=SECRET, raw_body=BODY, header=f" {header} ")


def test_tampered_body() -> None:
    header = sign(SECRET, BODY)
    tampered = BODY.replace(b"3 pm slot", b"4 pm slot")
    assert not verify_signature(app_secret=SECRET, raw_body=tampered, header=header)
    assert not verify_signature(app_secret=SECRET, raw_body=BODY + b" ", header=header)


def test_wrong_secret() -> None:
    header = sign(b"someone-else", BODY)
    assert not verify_signature(app_secret=SECRET, raw_body=BODY, header=header)


def test_missing_header() -> None:
    assert not verify_signature(app_secret=SECRET, raw_body=BODY, header=None)


def test_empty_secret_never_verifies() -> None:
    assert not verify_signature(app_secret=b"", raw_body=BODY, header=sign(b"", BODY))


@pytest.mark.parametrize(
    "header",
    [
        "",
        "sha256=",
        "sha1=" + "0" * 40,
        sign(SECRET, BODY).removeprefix("sha256="),  # digest without the prefix
        sign(SECRET, BODY)[:-1],  # one hex digit short
        sign(SECRET, BODY) + "0",  # one too many
        "sha256=" + "z" * 64,
        "sha256=" + "é" * 64,  # non-ASCII must not reach compare_digest
        "SHA256=" + sign(SECRET, BODY).removeprefix("sha256="),
        "sha256 = " + sign(SECRET, BODY).removeprefix("sha256="),
    ],
)
def test_malformed_header(header: str) -> None:
    assert not verify_signature(app_secret=SECRET, raw_body=BODY, header=header)
