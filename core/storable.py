"""Text every store can hold, checked where it enters (webhooks and the management API).

PostgreSQL refuses a NUL character in text, and SQLite's ``length()`` stops counting at one, so
a CHECK on a column's length sees a different string than the API did. An unpaired surrogate
(``"\\ud800"``, valid JSON text) cannot be encoded for either database, nor for Temporal. Such a
value is refused with a 422 naming its field, never passed on to fail as a 5xx.
"""

from __future__ import annotations

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError


def storable(value: str) -> str:
    """``value``, if every store can hold it; a ``storable_text`` validation error otherwise."""
    if "\x00" in value:
        raise PydanticCustomError("storable_text", "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("storable_text", "contains an unpaired surrogate") from None
    return value


def storable_or_none(value: str | None) -> str | None:
    return None if value is None else storable(value)


# For ``Annotated[str, …, STORABLE]`` fields.
STORABLE = AfterValidator(storable)
STORABLE_OR_NONE = AfterValidator(storable_or_none)
