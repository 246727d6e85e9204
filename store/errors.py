"""Exceptions the store raises on purpose.

    StoreError
    ├── AccountNotFound   the account id names no account
    ├── PhoneNumberTaken  the phone_number_id already belongs to another account
    ├── ReminderNotFound  Reminders.finish was given an id that names no reminder (a LookupError)
    └── InvalidCursor     a pagination cursor that this store did not produce

Database failures (connection lost, constraint violated by a caller bug) are not wrapped: they
surface as SQLAlchemy's own exceptions.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every deliberate store error."""


class AccountNotFound(StoreError):
    """No account with this id."""

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id!r} not found")
        self.account_id = account_id


class PhoneNumberTaken(StoreError):
    """The WhatsApp phone_number_id is already registered to another account."""

    def __init__(self, phone_number_id: str, *, owner_account_id: str | None = None) -> None:
        super().__init__(f"phone_number_id {phone_number_id!r} belongs to another account")
        self.phone_number_id = phone_number_id
        self.owner_account_id = owner_account_id


class InvalidCursor(StoreError):
    """A pagination cursor that cannot be decoded."""


class ReminderNotFound(StoreError, LookupError):
    """No reminder with this id."""

    def __init__(self, reminder_id: str) -> None:
        super().__init__(f"reminder {reminder_id!r} not found")
        self.reminder_id = reminder_id
