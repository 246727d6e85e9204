"""Merge fields of the reminder message (docs/sessions.md#settings): checked when saved,
rendered when sent.

Exactly five fields exist: ``{contact_firstname}``, ``{contact_lastname}``, ``{contact_email}``,
``{contact_phone}`` and ``{company_name}``.

What counts as a placeholder
    Any token matching ``\\{\\s*[^{}\\s]+\\s*\\}``: a pair of braces around one run of
    non-space, non-brace characters, optionally padded with whitespace. ``{contact_fullname}``,
    ``{0}``, ``{ foo }``, ``{contact_firstname.__class__}`` and ``{__import__('os')}`` are all
    placeholders, and all but the five exact spellings are refused by :func:`validate_template`
    (``{ contact_firstname }`` too: only the exact spelling is a merge field). Lone braces that
    enclose nothing or whitespace only (``{}``, ``{ }``) or several words (``{see you soon}``)
    and unpaired braces (``:-{``) are plain text.

Rendering
    :func:`render` substitutes the five exact spellings in one regex pass with a replacement
    function. It never uses ``str.format``, ``format_map``, ``string.Template`` or ``eval``, so
    attribute and index lookups inside braces cannot run, and anything it does not know is left
    untouched as literal text. Values are inserted verbatim: a contact whose name is
    ``{company_name}`` is not expanded a second time. Rendering is a pure function of
    ``(template, values)`` with no shared state, so one contact's values cannot leak into the
    next contact's message (a fault of the reference product).

Pure and deterministic: safe to import from Temporal workflow code (standard library only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.vocabulary import WA_ID_RE

MERGE_FIELDS: tuple[str, ...] = (
    "contact_firstname",
    "contact_lastname",
    "contact_email",
    "contact_phone",
    "company_name",
)

# Product decision: the default message opens with "Hi {contact_firstname}!", which must still
# read naturally ("Hi there!") for a contact with neither a stored nor a profile name.
FIRST_NAME_FALLBACK = "there"

_PLACEHOLDER = re.compile(r"\{\s*[^{}\s]+\s*\}")
_KNOWN = re.compile(r"\{(" + "|".join(re.escape(name) for name in MERGE_FIELDS) + r")\}")
_PHONE_NOISE = re.compile(r"[\s\-()]")


@dataclass(frozen=True)
class MergeValues:
    """The value of every merge field for one contact of one account."""

    contact_firstname: str
    contact_lastname: str
    contact_email: str
    contact_phone: str
    company_name: str


SAMPLE_VALUES = MergeValues(
    contact_firstname="John",
    contact_lastname="Smith",
    contact_email="john.smith@example.com",
    contact_phone="+1234567890",
    company_name="Acme Inc.",  # previews replace this with the account's real company name
)


class UnknownMergeField(ValueError):
    """A template contains a ``{...}`` placeholder that is not one of the five merge fields.

    ``field`` is the placeholder exactly as written in the template, braces included.
    """

    def __init__(self, field: str) -> None:
        self.field = field
        allowed = ", ".join(f"{{{name}}}" for name in MERGE_FIELDS)
        message = f"unknown merge field {field}; allowed: {allowed}"
        name = field[1:-1].strip()
        if name in MERGE_FIELDS:
            message += f" (write {{{name}}} exactly, without spaces inside the braces)"
        super().__init__(message)


def find_placeholders(template: str) -> list[str]:
    """Every placeholder-looking token in ``template``, as written and in order of appearance."""
    return _PLACEHOLDER.findall(template)


def validate_template(template: str) -> None:
    """Refuse a template whose placeholders are not all exact merge-field spellings.

    Raises :class:`UnknownMergeField` for the first offending placeholder.
    """
    for token in find_placeholders(template):
        if token[1:-1] not in MERGE_FIELDS:
            raise UnknownMergeField(token)


def uses_field(template: str, name: str) -> bool:
    """Whether ``template`` contains the merge field ``name`` (exactly spelled)."""
    return any(match.group(1) == name for match in _KNOWN.finditer(template))


def render(template: str, values: MergeValues) -> str:
    """Substitute the five merge fields; leave every other character, braces included, as is."""

    # MergeValues' attribute names are the field names (a test keeps them in step).
    def substitute(match: re.Match[str]) -> str:
        value: str = getattr(values, match.group(1))
        return value

    return _KNOWN.sub(substitute, template)


def split_profile_name(profile_name: str | None) -> tuple[str, str]:
    """A WhatsApp profile name as (first, last): first word, then the rest; blank → ("", "")."""
    if profile_name is None:
        return "", ""
    words = profile_name.split()
    if not words:
        return "", ""
    return words[0], " ".join(words[1:])


def to_e164(wa_id: str) -> str:
    """A WhatsApp id (country code and number, no plus) in E.164 form: ``"+<digits>"``.

    Accepts a leading ``+`` and strips spaces, dashes and parentheses. Raises ``ValueError``
    unless 7–15 digits remain (not starting with 0, as no country code does).
    """
    compact = _PHONE_NOISE.sub("", wa_id)
    digits = compact.removeprefix("+")
    if not WA_ID_RE.fullmatch(digits):
        # The field, never the value: this text becomes an audit reason and a workflow result,
        # and a malformed number is still a customer's number.
        raise ValueError("wa_id: not a phone number in E.164 form (7-15 digits)")
    return f"+{digits}"


def merge_values(
    *,
    first_name: str | None,
    last_name: str | None,
    email: str | None,
    profile_name: str | None,
    wa_id: str | None,
    company_name: str,
) -> MergeValues:
    """The merge values of one contact.

    Names the business stored win as a pair: if either the first or the last name is set
    (non-blank), both come from the stored contact, so a stored "Smith" is never combined with
    a first name guessed from the profile. Only when both are unset does the WhatsApp profile
    name fill them (:func:`split_profile_name`). A first name still empty after that becomes
    ``"there"`` (product decision, so the default message reads "Hi there!"); every other
    missing value renders as ``""`` — ``{contact_phone}`` too, for a customer who hides their
    number behind a username (``wa_id`` None). Raises ``ValueError`` if ``wa_id`` is given
    and is not a phone number.
    """
    first = (first_name or "").strip()
    last = (last_name or "").strip()
    if not first and not last:
        first, last = split_profile_name(profile_name)
    return MergeValues(
        contact_firstname=first or FIRST_NAME_FALLBACK,
        contact_lastname=last,
        contact_email=(email or "").strip(),
        contact_phone="" if wa_id is None else to_e164(wa_id),
        company_name=company_name.strip(),
    )
