"""What an activity's failure may say: its exception's class, never its message.

Temporal stores an activity's exception message (and its ``__cause__`` chain) in the workflow
history, and the worker logs it. A database error's message can quote what the statement was
about — the driver's own text is not covered by the engine's ``hide_parameters`` — and so can
anything else raised from a layer below: a customer's number, name, email or the rendered
reminder. :func:`failures_withheld` turns any exception that is not already one of ours (an
``ApplicationError`` or another Temporal error, whose messages we write) into an
``ApplicationError`` that names the activity and the exception class, with ``type`` set to the
class name as Temporal's default conversion would (retry policies match on it), and no cause.
The worker log gets the class and the stack frames, still without the message.

Imports no I/O library, so the workflow modules may import the activities that use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity
from temporalio.exceptions import ApplicationError, TemporalError

from core.redact import withheld


@contextmanager
def failures_withheld(name: str, *, subject: str) -> Iterator[None]:
    """Re-raise a foreign exception of activity ``name`` without its message.

    ``subject`` says what the activity was working on in loggable terms (a conversation key,
    an account id).
    """
    try:
        yield
    except TemporalError:
        raise
    except Exception as err:
        kind = type(err).__name__
        activity.logger.warning("%s failed for %s: %s", name, subject, withheld(err))
        # ``from None``: Temporal would encode the cause, message included.
        raise ApplicationError(f"{name} failed: {kind}", type=kind) from None
