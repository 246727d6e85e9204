"""docs/reaching.md on the time-skipping test server: quiet hours in the contact's zone (each
branch of the moment rule, a zone from the number and one from the account, a daylight-saving
change inside the silence), opt-out at send time, and the template sent when the window closes
unanswered, with the real activities, SQLite and the stand-in Graph API.

The test server's clock starts at today's real time and only moves forward, so quiet hours are
written relative to it, in the zone under test.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.reach import FallbackTemplate, QuietHours
from core.vocabulary import ReminderOutcome, SendKind, SessionState
from store.records import ReminderRecord
from tests.support import eventually
from tests.workflows.conftest import with_options
from tests.workflows.harness import ACCOUNT, Conversation

pytestmark = pytest.mark.timeout(120)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# Area code 212: New York only. 1-555 numbers map to no zone: the account's zone applies.
NEW_YORK_NUMBER = "12125550123"
UNPLACEABLE_NUMBER = "15550001111"
TEMPLATE = FallbackTemplate(
    name="we_miss_you",
    language="en_US",
    body_parameters=["{contact_firstname}", "{company_name}"],
)


def local_clock(instant: datetime, zone: str) -> str:
    """``instant``'s wall-clock time in ``zone``, rounded up to the next whole minute."""
    local = instant.astimezone(ZoneInfo(zone))
    rounded = local.replace(second=0, microsecond=0) + MINUTE
    return rounded.strftime("%H:%M")


def at_local_minute(instant: datetime, zone: str) -> datetime:
    """The UTC instant ``local_clock`` names: ``instant`` rounded up to its next minute."""
    return instant.replace(second=0, microsecond=0) + MINUTE


def near(actual: datetime | None, expected: datetime, tolerance: timedelta = MINUTE) -> bool:
    return actual is not None and abs(actual - expected) <= tolerance


async def records(conv: Conversation, kind: SendKind | None = None) -> list[ReminderRecord]:
    return [r for r in await conv.reminders() if kind is None or r.kind is kind]


async def decided(
    conv: Conversation, outcome: ReminderOutcome, kind: SendKind = SendKind.REMINDER
) -> ReminderRecord:
    [record] = await eventually(
        lambda: records(conv, kind),
        lambda found: len(found) == 1 and found[0].outcome is outcome,
    )
    return record


async def texts(conv: Conversation) -> list[dict[str, Any]]:
    return [m for m in await conv.outbox() if m.get("kind", "text") == "text"]


async def templates(conv: Conversation) -> list[dict[str, Any]]:
    return [m for m in await conv.outbox() if m.get("kind") == "template"]


async def settle() -> None:
    """Real time for the worker to act on what the last sleep fired."""
    await asyncio.sleep(0.5)


# -- quiet hours --------------------------------------------------------------------------------


async def test_a_reminder_due_in_quiet_hours_goes_out_at_their_end(conv: Conversation) -> None:
    """The number gives the zone (New York); the account's zone (Tokyo) is not used."""
    start = await conv.now()
    zone = "America/New_York"
    quiet = QuietHours(
        start=local_clock(start + HOUR, zone), end=local_clock(start + 4 * HOUR, zone)
    )
    await conv.save_settings(quiet_hours=quiet, timezone="Asia/Tokyo")
    end = at_local_minute(start + 4 * HOUR, zone)

    await conv.customer_writes(NEW_YORK_NUMBER)
    session = await eventually(
        lambda: conv.session(NEW_YORK_NUMBER), lambda s: s.reminder_due_at is not None
    )
    # The session shows when it will really go out, not the nominal T + 2 h.
    assert near(session.reminder_due_at, end)
    assert session.state is SessionState.WAITING

    await conv.sleep(2 * HOUR + MINUTE)  # nominal due time passed, inside quiet hours
    await settle()
    assert await texts(conv) == []
    await conv.sleep(2 * HOUR)
    record = await decided(conv, ReminderOutcome.SENT)
    assert near(record.nominal_due_at, start + 2 * HOUR)
    assert near(record.send_at, end)
    assert end <= record.decided_at < end + MINUTE
    assert len(await texts(conv)) == 1


async def test_a_reminder_whose_quiet_hours_end_too_late_goes_out_just_before_they_begin(
    conv: Conversation,
) -> None:
    """The number gives no zone: the account's (Kolkata) is used."""
    start = await conv.now()
    zone = "Asia/Kolkata"
    quiet = QuietHours(
        start=local_clock(start + 90 * MINUTE, zone),
        end=local_clock(start + 23 * HOUR + 55 * MINUTE, zone),  # after the window's close
    )
    await conv.save_settings(quiet_hours=quiet, timezone=zone)
    minute_before = at_local_minute(start + 90 * MINUTE, zone) - MINUTE

    await conv.customer_writes(UNPLACEABLE_NUMBER)
    session = await eventually(conv.session, lambda s: s.reminder_due_at is not None)
    assert near(session.reminder_due_at, minute_before)

    await conv.sleep(90 * MINUTE)
    record = await decided(conv, ReminderOutcome.SENT)
    assert near(record.send_at, minute_before)
    assert near(record.nominal_due_at, start + 2 * HOUR)
    assert record.decided_at < at_local_minute(start + 90 * MINUTE, zone)  # before quiet hours


async def test_a_reminder_quiet_hours_leave_no_moment_for_is_skipped_at_its_due_time(
    conv: Conversation,
) -> None:
    start = await conv.now()
    quiet = QuietHours(
        start=local_clock(start + 50 * MINUTE, "UTC"),  # the minute before is within T + 1 h
        end=local_clock(start + 23 * HOUR + 55 * MINUTE, "UTC"),
    )
    await conv.save_settings(quiet_hours=quiet)
    await conv.customer_writes()
    await conv.sleep(2 * HOUR + MINUTE)
    record = await decided(conv, ReminderOutcome.SKIPPED_QUIET_HOURS)
    # Decided when it was due, not at the window's close.
    assert near(record.decided_at, start + 2 * HOUR, 2 * MINUTE)
    assert "quiet hours" in (record.reason or "")
    assert await texts(conv) == []
    assert (await conv.session()).state is SessionState.REMINDED


async def test_quiet_hours_saved_while_waiting_move_the_timer(conv: Conversation) -> None:
    start = await conv.now()
    await conv.customer_writes()
    session = await eventually(conv.session, lambda s: s.reminder_due_at is not None)
    assert near(session.reminder_due_at, start + 2 * HOUR)

    quiet = QuietHours(
        start=local_clock(start + HOUR, "UTC"), end=local_clock(start + 3 * HOUR, "UTC")
    )
    await conv.save_settings(quiet_hours=quiet)
    end = at_local_minute(start + 3 * HOUR, "UTC")
    await eventually(conv.session, lambda s: near(s.reminder_due_at, end))
    await conv.sleep(2 * HOUR + MINUTE)
    await settle()
    assert await texts(conv) == []
    await conv.sleep(HOUR)
    record = await decided(conv, ReminderOutcome.SENT)
    assert end <= record.decided_at < end + MINUTE


# -- opt-out ------------------------------------------------------------------------------------


async def opt(conv: Conversation, wa_id: str, opted_out: bool) -> None:
    """What a keyword message or the API does to the contact (docs/reaching.md#opt-out)."""
    changed = await conv.store.contacts.set_opted_out(
        account_id=ACCOUNT,
        conversation_key=conv.key(wa_id),
        opted_out=opted_out,
        at=await conv.now(),
    )
    assert changed is not None and changed.opted_out is opted_out


@with_options(expiry_hours=1)
async def test_an_opt_out_59_minutes_into_a_one_hour_silence_prevents_the_reminder(
    conv: Conversation,
) -> None:
    """Checked at send time: the reminder already armed is not sent."""
    await conv.customer_writes()
    await conv.sleep(59 * MINUTE)
    await opt(conv, UNPLACEABLE_NUMBER, True)
    await conv.sleep(2 * MINUTE)
    record = await decided(conv, ReminderOutcome.SKIPPED_OPTED_OUT)
    assert record.reason == "the contact opted out"
    assert await conv.outbox() == []


@with_options(expiry_hours=1)
async def test_opted_back_in_the_next_silence_gets_its_reminder(conv: Conversation) -> None:
    await conv.customer_writes()
    await opt(conv, UNPLACEABLE_NUMBER, True)
    await conv.sleep(HOUR + MINUTE)
    await decided(conv, ReminderOutcome.SKIPPED_OPTED_OUT)
    await opt(conv, UNPLACEABLE_NUMBER, False)
    await conv.customer_writes()  # a new silence
    await conv.sleep(HOUR + MINUTE)
    sent = await eventually(lambda: texts(conv), lambda found: len(found) == 1)
    assert sent[0]["to"] == "+" + UNPLACEABLE_NUMBER


# -- the template when the window closes --------------------------------------------------------


@with_options(expiry_hours=1)
async def test_an_unanswered_window_gets_one_template_at_its_close(conv: Conversation) -> None:
    await conv.save_settings(fallback_template=TEMPLATE)
    start = await conv.now()
    handle = await conv.customer_writes()
    await conv.sleep(HOUR + MINUTE)
    await decided(conv, ReminderOutcome.SENT)  # the reminder, as before
    await conv.sleep(23 * HOUR - 2 * MINUTE)
    await settle()
    assert await templates(conv) == []
    await conv.sleep(2 * MINUTE)
    record = await decided(conv, ReminderOutcome.SENT, SendKind.TEMPLATE)
    [template] = await templates(conv)
    assert template["template"] == {
        "name": "we_miss_you",
        "language": "en_US",
        "parameters": ["John", "Acme Inc."],
    }
    assert template["callback_data"] == record.reminder_id
    closes = start + 24 * HOUR
    assert near(record.nominal_due_at, closes)
    assert closes - MINUTE <= record.decided_at < closes + 2 * MINUTE
    # The run ends right after: one run, one session.
    snapshot = await handle.result()
    assert snapshot.state is SessionState.EXPIRED
    assert snapshot.template_outcome is ReminderOutcome.SENT
    await asyncio.sleep(0.5)
    assert len(await templates(conv)) == 1


async def test_no_template_when_the_customer_wrote_after_t(conv: Conversation) -> None:
    await conv.save_settings(fallback_template=TEMPLATE)
    await conv.customer_writes()
    await conv.sleep(23 * HOUR)
    await conv.customer_writes()  # a new window, in the same run
    await conv.sleep(HOUR + 5 * MINUTE)  # past the first window's close
    await settle()
    assert await templates(conv) == []
    assert await records(conv, SendKind.TEMPLATE) == []
    session = await conv.session()
    assert session.state is not SessionState.EXPIRED


async def test_no_template_for_an_opted_out_contact(conv: Conversation) -> None:
    await conv.save_settings(fallback_template=TEMPLATE, enabled=True)
    await conv.customer_writes()
    await opt(conv, UNPLACEABLE_NUMBER, True)
    await conv.sleep(24 * HOUR + MINUTE)
    await decided(conv, ReminderOutcome.SKIPPED_OPTED_OUT, SendKind.TEMPLATE)
    assert await conv.outbox() == []


async def test_a_template_whose_close_falls_in_quiet_hours_waits_for_their_end(
    conv: Conversation,
) -> None:
    start = await conv.now()
    quiet = QuietHours(
        start=local_clock(start + 23 * HOUR, "UTC"), end=local_clock(start + 26 * HOUR, "UTC")
    )
    await conv.save_settings(fallback_template=TEMPLATE, quiet_hours=quiet)
    await conv.customer_writes()
    end = at_local_minute(start + 26 * HOUR, "UTC")
    await conv.sleep(25 * HOUR)
    await settle()
    assert await templates(conv) == []
    session = await conv.session()
    assert near(session.template_due_at, end)
    await conv.sleep(HOUR + 2 * MINUTE)
    record = await decided(conv, ReminderOutcome.SENT, SendKind.TEMPLATE)
    assert end <= record.decided_at < end + MINUTE
    assert near(record.send_at, end)


async def test_a_customer_message_while_the_template_waits_abandons_it(
    conv: Conversation,
) -> None:
    start = await conv.now()
    quiet = QuietHours(
        start=local_clock(start + 23 * HOUR, "UTC"), end=local_clock(start + 26 * HOUR, "UTC")
    )
    await conv.save_settings(fallback_template=TEMPLATE, quiet_hours=quiet)
    await conv.customer_writes()
    await conv.sleep(25 * HOUR)
    waiting = await eventually(conv.session, lambda s: s.template_due_at is not None)
    assert waiting.state is SessionState.EXPIRED
    await conv.customer_writes()  # a new window opens in the same run
    session = await eventually(conv.session, lambda s: s.state is not SessionState.EXPIRED)
    assert session.template_due_at is None
    await conv.sleep(2 * HOUR)  # past the first template's moment
    await settle()
    assert await templates(conv) == []
    assert await records(conv, SendKind.TEMPLATE) == []


async def test_a_template_refused_with_132001_fails_once_and_is_not_retried(
    conv: Conversation,
) -> None:
    await conv.save_settings(fallback_template=TEMPLATE)
    await conv.fail_next_sends(
        kind="http",
        status=404,
        code=132001,
        message="Template name does not exist",
        template=TEMPLATE.name,
        times=3,
    )
    await conv.customer_writes()
    await conv.sleep(24 * HOUR + MINUTE)
    record = await decided(conv, ReminderOutcome.FAILED, SendKind.TEMPLATE)
    assert record.error_code == 132001
    assert record.attempts == 1
    await conv.sleep(10 * MINUTE)
    await settle()
    pending = (await conv.sandbox.get("/_sandbox/failures")).json()["items"]
    assert len(pending) == 2  # one consumed: no second attempt
    assert await templates(conv) == []


async def test_a_template_accepted_then_answered_5xx_is_proved_by_its_status_not_resent(
    conv: Conversation,
) -> None:
    await conv.save_settings(fallback_template=TEMPLATE)
    await conv.fail_next_sends(kind="accept_then_fail", status=500, template=TEMPLATE.name)
    await conv.customer_writes()
    await conv.sleep(24 * HOUR + 5 * MINUTE / 60)
    record = await decided(conv, ReminderOutcome.AMBIGUOUS, SendKind.TEMPLATE)
    [accepted] = await eventually(lambda: templates(conv), lambda found: len(found) == 1)
    assert accepted["callback_data"] == record.reminder_id
    await conv.status_arrives(record.reminder_id, message_id=str(accepted["id"]))
    await conv.sleep(2 * MINUTE)  # past the wait for proof
    record = await decided(conv, ReminderOutcome.SENT, SendKind.TEMPLATE)
    assert record.message_id == accepted["id"]
    await settle()
    assert len(await templates(conv)) == 1


async def test_a_template_accepted_then_5xx_without_proof_is_resent_with_the_same_id(
    conv: Conversation,
) -> None:
    await conv.save_settings(fallback_template=TEMPLATE)
    await conv.fail_next_sends(kind="accept_then_fail", status=500, template=TEMPLATE.name)
    await conv.customer_writes()
    await conv.sleep(24 * HOUR + 5 * MINUTE / 60)
    first = await decided(conv, ReminderOutcome.AMBIGUOUS, SendKind.TEMPLATE)
    await conv.sleep(2 * MINUTE)  # no status within the wait: sent again, same reminder id
    record = await decided(conv, ReminderOutcome.SENT, SendKind.TEMPLATE)
    assert record.reminder_id == first.reminder_id
    sent = await eventually(lambda: templates(conv), lambda found: len(found) == 2)
    assert {m["callback_data"] for m in sent} == {first.reminder_id}


def _next_transition(after: datetime, zone: str) -> datetime:
    """The first daylight-saving change in ``zone`` after ``after`` (to the hour)."""
    tz = ZoneInfo(zone)
    moment = after.replace(minute=0, second=0, microsecond=0) + HOUR
    offset = moment.astimezone(tz).utcoffset()
    for _ in range(24 * 370):
        moment += HOUR
        if moment.astimezone(tz).utcoffset() != offset:
            return moment
    raise AssertionError(f"{zone} changes no offset within a year")


@pytest.mark.timeout(180)
async def test_a_daylight_saving_change_inside_the_silence_keeps_the_local_end(
    conv: Conversation,
) -> None:
    """New York's clocks change during the night; quiet hours end at 07:00 local all the same.

    Runs last in this module: it moves the shared test server's clock to the next change.
    """
    zone = "America/New_York"
    tz = ZoneInfo(zone)
    change = _next_transition(await conv.now(), zone)
    await conv.sleep(change - 4 * HOUR - await conv.now())
    await conv.save_settings(quiet_hours=QuietHours(start="22:00", end="07:00"), expiry_hours=2)
    start = await conv.now()
    await conv.customer_writes(NEW_YORK_NUMBER)
    # 07:00 local on the morning of the change, at the offset *after* it.
    after = (change + HOUR).astimezone(tz).utcoffset()
    before = (change - HOUR).astimezone(tz).utcoffset()
    assert after is not None and before is not None and after != before
    morning = (change - HOUR).astimezone(tz).date()
    expected = (datetime.combine(morning, datetime.min.time()) + 7 * HOUR - after).replace(
        tzinfo=UTC
    )
    session = await eventually(
        lambda: conv.session(NEW_YORK_NUMBER), lambda s: s.reminder_due_at is not None
    )
    assert session.reminder_due_at == expected
    # With the offset of the evening before, the end would be an hour off.
    assert expected != (datetime.combine(morning, datetime.min.time()) + 7 * HOUR - before).replace(
        tzinfo=UTC
    )
    await conv.sleep(expected - start - MINUTE)
    await settle()
    assert await texts(conv) == []
    await conv.sleep(2 * MINUTE)
    record = await decided(conv, ReminderOutcome.SENT)
    assert expected <= record.decided_at < expected + MINUTE
