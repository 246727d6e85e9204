"""Merge fields: save-time validation, literal rendering, name and phone fallbacks.

The rules are docs/sessions.md#settings.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.merge_fields import (
    MERGE_FIELDS,
    SAMPLE_VALUES,
    MergeValues,
    UnknownMergeField,
    find_placeholders,
    merge_values,
    render,
    split_profile_name,
    to_e164,
    validate_template,
)

DEFAULT_MESSAGE = (
    "Hi {contact_firstname}! Following up on our conversation. Still interested? Let me know! 😊"
)
ALL_FIELDS = "{contact_firstname}|{contact_lastname}|{contact_email}|{contact_phone}|{company_name}"
HOSTILE = [
    "{contact_firstname.__class__}",
    "{0}",
    "{__import__('os')}",
    "{contact_firstname[0]}",
    "{contact_firstname!r}",
    "{contact_firstname:>10}",
    "{ contact_firstname }",
    "{contact_fullname}",
]


def test_merge_fields_are_exactly_the_five() -> None:
    assert MERGE_FIELDS == (
        "contact_firstname",
        "contact_lastname",
        "contact_email",
        "contact_phone",
        "company_name",
    )
    assert tuple(f.name for f in dataclasses.fields(MergeValues)) == MERGE_FIELDS


def test_every_field_renders() -> None:
    validate_template(ALL_FIELDS)
    assert render(ALL_FIELDS, SAMPLE_VALUES) == (
        "John|Smith|john.smith@example.com|+1234567890|Acme Inc."
    )


def test_default_message_renders() -> None:
    validate_template(DEFAULT_MESSAGE)
    assert render(DEFAULT_MESSAGE, SAMPLE_VALUES).startswith("Hi John! Following up")


def test_repeated_field_renders_every_time() -> None:
    assert render("{contact_firstname} {contact_firstname}", SAMPLE_VALUES) == "John John"


def test_unknown_field_is_refused_with_its_name() -> None:
    with pytest.raises(UnknownMergeField) as excinfo:
        validate_template("Hi {contact_fullname}, from {company_name}")
    assert excinfo.value.field == "{contact_fullname}"
    message = str(excinfo.value)
    assert "{contact_fullname}" in message
    for name in MERGE_FIELDS:
        assert f"{{{name}}}" in message
    assert isinstance(excinfo.value, ValueError)


def test_first_unknown_field_is_reported() -> None:
    with pytest.raises(UnknownMergeField) as excinfo:
        validate_template("{contact_firstname} {first} {second}")
    assert excinfo.value.field == "{first}"


def test_spaced_spelling_is_refused_with_a_hint() -> None:
    with pytest.raises(UnknownMergeField) as excinfo:
        validate_template("Hi { contact_firstname }!")
    assert excinfo.value.field == "{ contact_firstname }"
    assert "exactly" in str(excinfo.value)


@pytest.mark.parametrize("token", HOSTILE)
def test_hostile_placeholders_are_refused_and_rendered_literally(token: str) -> None:
    template = f"Hi {token}!"
    with pytest.raises(UnknownMergeField) as excinfo:
        validate_template(template)
    assert excinfo.value.field == token
    assert render(template, SAMPLE_VALUES) == template


@pytest.mark.parametrize(
    "text",
    [":-{", "{}", "{ }", "a } b { c", "{see you soon}", "}{", "{\n}"],
)
def test_lone_braces_are_plain_text(text: str) -> None:
    assert find_placeholders(text) == []
    validate_template(text)
    assert render(text, SAMPLE_VALUES) == text


def test_find_placeholders_lists_tokens_in_order() -> None:
    assert find_placeholders("{a} x { b } {contact_email} {c.d} {}") == [
        "{a}",
        "{ b }",
        "{contact_email}",
        "{c.d}",
    ]


def test_double_braces_keep_the_outer_pair() -> None:
    validate_template("{{contact_firstname}}")
    assert render("{{contact_firstname}}", SAMPLE_VALUES) == "{John}"


def test_values_with_braces_are_not_expanded_again() -> None:
    values = dataclasses.replace(
        SAMPLE_VALUES,
        contact_firstname="{company_name}",
        contact_lastname="{0}{contact_email}\\1\\g<0>",
    )
    assert render("{contact_firstname} {contact_lastname} / {company_name}", values) == (
        "{company_name} {0}{contact_email}\\1\\g<0> / Acme Inc."
    )


def test_contacts_rendered_in_sequence_do_not_leak() -> None:
    alice = merge_values(
        first_name="Alice",
        last_name="Anders",
        email="alice@a.example",
        profile_name=None,
        wa_id="4915112345678",
        company_name="Acme Inc.",
    )
    bob = merge_values(
        first_name=None,
        last_name=None,
        email=None,
        profile_name=None,
        wa_id="14155550123",
        company_name="Acme Inc.",
    )
    text_a = render(ALL_FIELDS, alice)
    text_b = render(ALL_FIELDS, bob)
    assert text_a == "Alice|Anders|alice@a.example|+4915112345678|Acme Inc."
    assert text_b == "there|||+14155550123|Acme Inc."
    for leaked in ("Alice", "Anders", "alice@a.example", "4915112345678"):
        assert leaked not in text_b


@pytest.mark.parametrize(
    ("profile_name", "expected"),
    [
        (None, ("", "")),
        ("", ("", "")),
        ("   \t ", ("", "")),
        ("John", ("John", "")),
        ("  John   Smith ", ("John", "Smith")),
        ("Maria  de la\tCruz", ("Maria", "de la Cruz")),
        ("🌸 Ana", ("🌸", "Ana")),
    ],
)
def test_split_profile_name(profile_name: str | None, expected: tuple[str, str]) -> None:
    assert split_profile_name(profile_name) == expected


def _values(
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    profile_name: str | None = None,
) -> MergeValues:
    return merge_values(
        first_name=first_name,
        last_name=last_name,
        email=email,
        profile_name=profile_name,
        wa_id="1234567890",
        company_name="Acme Inc.",
    )


def test_stored_names_win_over_the_profile() -> None:
    values = _values(first_name="Jane", last_name="Doe", profile_name="John Smith")
    assert (values.contact_firstname, values.contact_lastname) == ("Jane", "Doe")


def test_stored_first_name_alone_does_not_borrow_the_profile_last_name() -> None:
    values = _values(first_name="Jane", profile_name="John Smith")
    assert (values.contact_firstname, values.contact_lastname) == ("Jane", "")


def test_stored_last_name_alone_does_not_borrow_the_profile_first_name() -> None:
    values = _values(last_name="Doe", profile_name="John Smith")
    assert (values.contact_firstname, values.contact_lastname) == ("there", "Doe")


def test_profile_name_fills_when_no_name_is_stored() -> None:
    values = _values(first_name="  ", last_name="", profile_name=" John  Smith ")
    assert (values.contact_firstname, values.contact_lastname) == ("John", "Smith")


def test_there_when_no_name_at_all() -> None:
    values = _values()
    assert values == MergeValues(
        contact_firstname="there",
        contact_lastname="",
        contact_email="",
        contact_phone="+1234567890",
        company_name="Acme Inc.",
    )
    assert render(DEFAULT_MESSAGE, values).startswith("Hi there! ")


def test_email_is_kept() -> None:
    assert _values(email=" jane@example.com ").contact_email == "jane@example.com"


def test_merge_values_refuses_an_invalid_wa_id() -> None:
    with pytest.raises(ValueError):
        merge_values(
            first_name=None,
            last_name=None,
            email=None,
            profile_name=None,
            wa_id="abc",
            company_name="Acme Inc.",
        )


@pytest.mark.parametrize(
    ("wa_id", "expected"),
    [
        ("1234567890", "+1234567890"),
        ("+1234567890", "+1234567890"),
        ("4915112345678", "+4915112345678"),
        ("+1 (415) 555-0123", "+14155550123"),
        ("1234567", "+1234567"),
        ("123456789012345", "+123456789012345"),
    ],
)
def test_to_e164(wa_id: str, expected: str) -> None:
    assert to_e164(wa_id) == expected


@pytest.mark.parametrize(
    "wa_id",
    [
        "",
        "+",
        "123456",  # 6 digits
        "1234567890123456",  # 16 digits
        "++1234567890",
        "12345+67890",
        "1234567890x",
        "1.234.567.890",
        "0123456789",
        "١٢٣٤٥٦٧٨٩",  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_to_e164_refuses(wa_id: str) -> None:
    with pytest.raises(ValueError) as refused:
        to_e164(wa_id)
    # The message names the field, not the value: it becomes an audit reason.
    assert str(refused.value) == "wa_id: not a phone number in E.164 form (7-15 digits)"


@given(st.text().filter(lambda s: "{" not in s and "}" not in s))
def test_text_without_braces_renders_unchanged(text: str) -> None:
    assert find_placeholders(text) == []
    assert render(text, SAMPLE_VALUES) == text


_field_tokens = st.sampled_from([f"{{{name}}}" for name in MERGE_FIELDS])


@given(
    values=st.builds(
        MergeValues,
        contact_firstname=st.text(),
        contact_lastname=st.text(),
        contact_email=st.text(),
        contact_phone=st.text(),
        company_name=st.text(),
    ),
    parts=st.lists(st.one_of(_field_tokens, st.text()), max_size=8),
)
def test_render_never_raises_and_inserts_present_values(
    values: MergeValues, parts: list[str]
) -> None:
    template = "".join(parts)
    rendered = render(template, values)
    for name in MERGE_FIELDS:
        if f"{{{name}}}" in parts:
            assert getattr(values, name) in rendered


@given(
    values=st.builds(
        MergeValues,
        contact_firstname=st.text(),
        contact_lastname=st.text(),
        contact_email=st.text(),
        contact_phone=st.text(),
        company_name=st.text(),
    ),
    text=st.text(),
)
def test_render_never_raises_on_arbitrary_text(values: MergeValues, text: str) -> None:
    assert isinstance(render(text, values), str)
