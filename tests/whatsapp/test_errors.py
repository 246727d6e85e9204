"""docs/sending.md#error-classification, table-driven over every listed code."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from whatsapp.errors import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
    WhatsAppError,
    WindowClosedError,
    classify_error,
)

# Spelled out here rather than imported, so a typo in the module's sets fails a test.
PERMANENT = [131026, 131031, 131048, 133010, 368, 100, 190, 0, 3, 10, 200, 201, 250, 298, 299]
THROTTLING = [130429, 131056, 4, 80007]
MAYBE_SENT = [1, 2, 131000, 131016, 133004, 131057]


@pytest.mark.parametrize("http_status", [400, 403, 500, 503, 429, None])
def test_131047_is_window_closed_whatever_the_status(http_status: int | None) -> None:
    error = classify_error(http_status=http_status, code=131047, message="Re-engagement message")
    assert type(error) is WindowClosedError
    assert error.code == 131047


@pytest.mark.parametrize("code", PERMANENT)
@pytest.mark.parametrize("http_status", [400, 401, 500, 429, None])
def test_permanent_codes(code: int, http_status: int | None) -> None:
    error = classify_error(http_status=http_status, code=code, message="m")
    assert type(error) is PermanentSendError
    assert (error.code, error.http_status) == (code, http_status)


@pytest.mark.parametrize("code", THROTTLING)
@pytest.mark.parametrize("http_status", [400, 403, 500, 429, None])
def test_throttling_codes_are_certainly_not_sent(code: int, http_status: int | None) -> None:
    error = classify_error(http_status=http_status, code=code, message="m", retry_after=2.5)
    assert type(error) is RetryableSendError
    assert error.retry_after == 2.5


@pytest.mark.parametrize("code", MAYBE_SENT)
@pytest.mark.parametrize("http_status", [400, 403, 500, 429, None])
def test_trouble_on_metas_side_may_have_sent(code: int, http_status: int | None) -> None:
    error = classify_error(http_status=http_status, code=code, message="m", retry_after=2.5)
    assert type(error) is AmbiguousSendError
    assert error.code == code


@pytest.mark.parametrize("code", [199, 300, 131049, 999_999])
def test_codes_just_outside_the_lists_are_not_known(code: int) -> None:
    assert type(classify_error(http_status=400, code=code, message="m")) is PermanentSendError
    assert type(classify_error(http_status=503, code=code, message="m")) is AmbiguousSendError


@pytest.mark.parametrize(
    ("http_status", "expected"),
    [
        (500, AmbiguousSendError),
        (502, AmbiguousSendError),
        (503, AmbiguousSendError),
        (504, AmbiguousSendError),
        (429, RetryableSendError),
        (400, PermanentSendError),
        (401, PermanentSendError),
        (403, PermanentSendError),
        (404, PermanentSendError),
        (408, PermanentSendError),
        (None, PermanentSendError),
    ],
)
def test_without_a_code_the_status_decides(
    http_status: int | None, expected: type[WhatsAppError]
) -> None:
    error = classify_error(http_status=http_status, code=None, message="HTTP error")
    assert type(error) is expected


def test_retry_after_only_on_retryable() -> None:
    error = classify_error(http_status=429, code=None, message="slow down", retry_after=7.0)
    assert isinstance(error, RetryableSendError)
    assert error.retry_after == 7.0
    assert not hasattr(classify_error(http_status=400, code=100, message="m"), "retry_after")


def test_error_keeps_meta_fields_and_reads_well() -> None:
    error = classify_error(
        http_status=401,
        code=190,
        message="Error validating access token",
        error_subcode=463,
        fbtrace_id="A1b2C3",
        details="expired",
    )
    assert (error.error_subcode, error.fbtrace_id, error.details) == (463, "A1b2C3", "expired")
    assert error.message == "Error validating access token"
    assert str(error) == "(code 190) Error validating access token [HTTP 401]"


@pytest.mark.parametrize(
    "error",
    [
        WindowClosedError("closed", code=131047, http_status=400, fbtrace_id="x"),
        RetryableSendError("busy", retry_after=3.0, code=130429, http_status=400),
        PermanentSendError("bad", code=100, error_subcode=33, details="d"),
        AmbiguousSendError("maybe"),
    ],
)
def test_errors_survive_pickle_and_copy(error: WhatsAppError) -> None:
    for clone in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(clone) is type(error)
        assert vars(clone) == vars(error)
        assert str(clone) == str(error)


def test_pure_modules_do_not_import_httpx() -> None:
    # errors and webhook are imported from workflow code (Temporal's sandbox), which must not
    # pull in an HTTP client; a fresh interpreter shows what the import really loads.
    code = (
        "import sys, whatsapp.errors, whatsapp.webhook, whatsapp.signature; "
        "bad = [m for m in ('httpx', 'fastapi', 'starlette') if m in sys.modules]; "
        "assert not bad, bad"
    )
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True)
