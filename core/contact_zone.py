"""The time zone of a customer, for quiet hours (docs/reaching.md#quiet-hours).

A number whose country or area has exactly one IANA zone (``phonenumbers``' mapping: all of
Germany, or the US area code 212) gives that zone; a number spanning several zones (a Spanish
mobile: Madrid or the Canaries), an unknown range, or no number at all (a customer known only by
BSUID) gives the account's ``timezone``.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as number_zones

from core.quiet_hours import known_timezones

# What phonenumbers answers for a number it cannot place.
_UNKNOWN = "Etc/Unknown"


@lru_cache(maxsize=4096)
def zone_of_number(wa_id: str) -> str | None:
    """The one zone ``wa_id``'s country or area is in, or None when it is not exactly one."""
    try:
        number = phonenumbers.parse("+" + wa_id)
    except phonenumbers.NumberParseException:
        return None
    zones = [z for z in number_zones.time_zones_for_number(number) if z != _UNKNOWN]
    if len(zones) != 1 or zones[0] not in known_timezones():
        return None
    return zones[0]


def contact_zone(wa_id: str | None, *, account_timezone: str) -> str:
    """The zone quiet hours are read in for this contact."""
    if wa_id is not None:
        found = zone_of_number(wa_id)
        if found is not None:
            return found
    return account_timezone
