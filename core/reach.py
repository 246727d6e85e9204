"""What reaching the customer the right way adds to an account's settings (docs/reaching.md):
quiet hours, the opt-out and opt-in keywords, and the template fallback.

Value models shared by the API (validation: a bad value is a 422 naming the field and the
rule), the store (the settings row keeps them as JSON) and the workflow (the quiet hours travel
in ``core.contract.ReminderSettings``). Pure and deterministic: safe in workflow code.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from core.merge_fields import UnknownMergeField, validate_template
from core.storable import STORABLE

# The fields of an account's settings document, in the API's order: PUT replaces all of them.
SETTINGS_FIELDS: Final = (
    "enabled",
    "expiry_hours",
    "message",
    "quiet_hours",
    "timezone",
    "opt_out_keywords",
    "opt_in_keywords",
    "fallback_template",
    # What Meta charges per delivered message (core.prices, docs/analytics.md#cost).
    "message_prices",
)

# -- quiet hours --------------------------------------------------------------------------------

CLOCK_PATTERN: Final = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
CLOCK_RULE: Final = "a 24-hour time HH:MM, 00:00 to 23:59"
DEFAULT_TIMEZONE: Final = "UTC"


def _clock(value: str) -> str:
    if not re.fullmatch(CLOCK_PATTERN, value):
        raise PydanticCustomError("clock_time", f"not {CLOCK_RULE}")
    return value


ClockTime = Annotated[str, Field(description=CLOCK_RULE), AfterValidator(_clock)]


class QuietHours(BaseModel):
    """A daily period, in the contact's local time, in which nothing is sent; it may wrap
    midnight (22:00 to 07:00)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise PydanticCustomError(
                "quiet_hours_empty", "start and end must differ (a period of no length)"
            )
        return self

    @property
    def start_time(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        return time.fromisoformat(self.end)


# -- opt-out and opt-in -------------------------------------------------------------------------

DEFAULT_OPT_OUT_KEYWORDS: Final = ("STOP",)
DEFAULT_OPT_IN_KEYWORDS: Final = ("START",)
MAX_KEYWORDS: Final = 20
# Longer texts are never compared with the lists: a keyword is a word or two. (With the other
# bounds here and core.prices', a settings PUT stays under the API's body limit even fully
# JSON-escaped: api/guard.py.)
MAX_KEYWORD_LENGTH: Final = 32


def keyword_form(text: str) -> str:
    """How a customer's text and a keyword are compared: trimmed, case-insensitive."""
    return text.strip().casefold()


def _keyword(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("keyword_empty", "a keyword must not be empty or blank")
    if len(stripped) > MAX_KEYWORD_LENGTH:
        raise PydanticCustomError(
            "keyword_length", f"a keyword has at most {MAX_KEYWORD_LENGTH} characters"
        )
    return stripped


Keyword = Annotated[str, STORABLE, AfterValidator(_keyword)]


def _distinct(values: list[str]) -> list[str]:
    forms = [keyword_form(value) for value in values]
    if len(set(forms)) != len(forms):
        raise PydanticCustomError("keyword_repeated", "a keyword appears twice")
    return values


Keywords = Annotated[
    list[Keyword],
    Field(max_length=MAX_KEYWORDS, description="trimmed, compared case-insensitively"),
    AfterValidator(_distinct),
]


# -- template fallback --------------------------------------------------------------------------

# Meta's rule for template names: lowercase letters, digits and underscores, at most 512.
TEMPLATE_NAME_PATTERN: Final = r"^[a-z0-9_]{1,512}$"
TEMPLATE_NAME_RULE: Final = "1-512 lowercase letters, digits or underscores (Meta's template name)"
# Meta's language codes: "en", "en_US", "pt_BR", "zh_HK", "fil".
TEMPLATE_LANGUAGE_PATTERN: Final = r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$"
TEMPLATE_LANGUAGE_RULE: Final = "a language code such as en or en_US"
MAX_TEMPLATE_PARAMETERS: Final = 20
# The text with its merge fields, before rendering; Meta caps the whole rendered body at 1024.
MAX_TEMPLATE_PARAMETER_LENGTH: Final = 128
# Meta refuses a parameter with a new line, a tab or more than four spaces in a row.
_PARAMETER_NOISE = re.compile(r"[\n\t]| {5,}")


def _template_name(value: str) -> str:
    if not re.fullmatch(TEMPLATE_NAME_PATTERN, value):
        raise PydanticCustomError("template_name", f"not {TEMPLATE_NAME_RULE}")
    return value


def _template_language(value: str) -> str:
    if not re.fullmatch(TEMPLATE_LANGUAGE_PATTERN, value):
        raise PydanticCustomError("template_language", f"not {TEMPLATE_LANGUAGE_RULE}")
    return value


def _template_parameter(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("template_parameter_empty", "a parameter must not be blank")
    if _PARAMETER_NOISE.search(value):
        raise PydanticCustomError(
            "template_parameter_format",
            "a parameter may not hold a new line, a tab or more than four spaces in a row",
        )
    try:
        validate_template(value)
    except UnknownMergeField as err:
        raise PydanticCustomError("merge_field", str(err)) from None
    return value


TemplateParameter = Annotated[
    str,
    Field(max_length=MAX_TEMPLATE_PARAMETER_LENGTH),
    STORABLE,
    AfterValidator(_template_parameter),
]


class FallbackTemplate(BaseModel):
    """The approved template sent once when a session's window closes unanswered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(description=TEMPLATE_NAME_RULE), AfterValidator(_template_name)]
    language: Annotated[
        str, Field(description=TEMPLATE_LANGUAGE_RULE), AfterValidator(_template_language)
    ]
    body_parameters: list[TemplateParameter] = Field(
        default_factory=list,
        max_length=MAX_TEMPLATE_PARAMETERS,
        description="the body's {{1}}, {{2}} … in order, each a text with merge fields",
    )


def flatten_parameter(rendered: str) -> str:
    """A rendered parameter as Meta accepts it: a contact's name with a new line in it must not
    make the send fail."""
    return re.sub(r"\s{5,}", "    ", re.sub(r"[\n\t]", " ", rendered))
