"""Accounts: a business phone number of Meta's, its company name and its access token."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.vocabulary import ACCOUNT_ID_RE, ACCOUNT_ID_RULE
from store.errors import PhoneNumberTaken
from store.models import AccountRow
from store.records import Account
from store.transactions import Transactions, insert, to_record


class Accounts:
    """Data access for accounts."""

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def upsert(
        self,
        *,
        account_id: str,
        company_name: str,
        phone_number_id: str,
        access_token: str | None,
    ) -> tuple[Account, bool]:
        """Create or update an account; the bool says whether it was created.

        ``access_token=None`` keeps the stored token on update and is refused on create.
        """
        if not ACCOUNT_ID_RE.fullmatch(account_id):
            raise ValueError(f"account_id must be {ACCOUNT_ID_RULE}")
        try:
            return await self._upsert(
                account_id=account_id,
                company_name=company_name,
                phone_number_id=phone_number_id,
                access_token=access_token,
            )
        except IntegrityError:
            # Lost a race for the phone number (the pre-check saw it free): report it as such.
            owner = await self.by_phone_number_id(phone_number_id=phone_number_id)
            if owner is not None and owner.account_id != account_id:
                raise PhoneNumberTaken(phone_number_id, owner_account_id=owner.account_id) from None
            raise

    async def _upsert(
        self,
        *,
        account_id: str,
        company_name: str,
        phone_number_id: str,
        access_token: str | None,
    ) -> tuple[Account, bool]:
        now = self._tx.now()
        async with self._tx.write() as tx:
            owner = await tx.scalar(
                select(AccountRow.account_id).where(
                    AccountRow.phone_number_id == phone_number_id,
                    AccountRow.account_id != account_id,
                )
            )
            if owner is not None:
                raise PhoneNumberTaken(phone_number_id, owner_account_id=owner)

            if access_token is not None:
                # ON CONFLICT on the primary key only: a phone-number clash still raises.
                inserted = await tx.scalar(
                    insert(tx, AccountRow)
                    .values(
                        account_id=account_id,
                        company_name=company_name,
                        phone_number_id=phone_number_id,
                        access_token=access_token,
                        created_at=now,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=[AccountRow.account_id])
                    .returning(AccountRow)
                )
                if inserted is not None:
                    return to_record(Account, inserted), True

            values: dict[str, Any] = {
                "company_name": company_name,
                "phone_number_id": phone_number_id,
                "updated_at": now,
            }
            if access_token is not None:
                values["access_token"] = access_token
            updated = await tx.scalar(
                update(AccountRow)
                .where(AccountRow.account_id == account_id)
                .values(**values)
                .returning(AccountRow)
            )
            if updated is None:
                raise ValueError("access_token is required to create an account")
            return to_record(Account, updated), False

    async def get(self, *, account_id: str) -> Account | None:
        async with self._tx.read() as tx:
            row = await tx.get(AccountRow, account_id)
            return None if row is None else to_record(Account, row)

    async def by_phone_number_id(self, *, phone_number_id: str) -> Account | None:
        """The account a webhook's ``metadata.phone_number_id`` belongs to."""
        async with self._tx.read() as tx:
            row = await tx.scalar(
                select(AccountRow).where(AccountRow.phone_number_id == phone_number_id)
            )
            return None if row is None else to_record(Account, row)
