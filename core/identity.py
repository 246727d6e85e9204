"""Who a customer is: a phone number, a business-scoped user id (BSUID), or both
(docs/sessions.md#who-the-customer-is).

Since 2026 a WhatsApp user may adopt a username and hide their number; Meta then names them by
a BSUID (``user_id``, "US.13491208655302741918"), possibly with a parent BSUID shared across a
group of business portfolios, and may leave the number out. ``CustomerIdentity`` is what one
webhook item says about its customer. The store turns it into the one stored contact, whose
conversation key names the workflow whatever Meta calls the customer later.

Pure: safe to import from workflow code.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.vocabulary import BSUID_RE, WA_ID_RE


@dataclass(frozen=True, slots=True)
class CustomerIdentity:
    """The identifiers one webhook item (or one API path) gives for a customer."""

    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    username: str | None = None

    def __post_init__(self) -> None:
        if self.wa_id is None and self.user_id is None and self.parent_user_id is None:
            raise ValueError("a customer needs a phone number or a BSUID")

    @property
    def label(self) -> str:
        """One identifier that names this customer within an account: the BSUID when known
        (it is what Meta always sends now), else the number, else the parent BSUID."""
        if self.user_id is not None:
            return f"bsuid:{self.user_id}"
        if self.wa_id is not None:
            return f"phone:{self.wa_id}"
        return f"parent:{self.parent_user_id}"

    @property
    def labels(self) -> tuple[str, ...]:
        """A label for each identifier given: any one of them names the customer."""
        given = (("phone", self.wa_id), ("bsuid", self.user_id), ("parent", self.parent_user_id))
        return tuple(f"{kind}:{value}" for kind, value in given if value is not None)

    @property
    def recipient(self) -> str | None:
        """Where a message goes when there is no number: the BSUID, else the parent BSUID."""
        return self.user_id or self.parent_user_id

    def merged(self, other: CustomerIdentity) -> CustomerIdentity:
        """Everything both say, ``other`` winning where both know (it is the newer one)."""
        return CustomerIdentity(
            wa_id=other.wa_id or self.wa_id,
            user_id=other.user_id or self.user_id,
            parent_user_id=other.parent_user_id or self.parent_user_id,
            username=other.username or self.username,
        )


def parse_customer_id(text: str) -> CustomerIdentity:
    """A customer named in an API path or a CLI argument: a number or a BSUID.

    Raises ``ValueError`` for anything else.
    """
    if WA_ID_RE.fullmatch(text):
        return CustomerIdentity(wa_id=text)
    if BSUID_RE.fullmatch(text):
        if ".ENT." in text:
            return CustomerIdentity(parent_user_id=text)
        return CustomerIdentity(user_id=text)
    raise ValueError("not a WhatsApp number (7-15 digits) or a BSUID (e.g. US.1349120865530)")
