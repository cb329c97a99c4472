"""Who is charged and who they call: a CAMEL party as the OCS knows it.

The served subscriber is the calling party of a mobile-originated call or SMS and the
called party (or recipient) of a mobile-terminated one; the other party is what the
tariff prices (the Destination CGRateS matches its prefixes against). Numbers become
E.164 digits: an international number as it is, a national one behind the configured
country code (its trunk prefix 0 dropped), others untouched. The charging account is
then found by the same resolver Gy uses, from the MSISDN and the IMSI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from omnigw.camel.cap.codec import Number

E164, IMSI = 0, 1  # Subscription-Id types, as Gy's resolver takes them

# Subscription-Ids -> account or None; may raise OcsError to refuse one (Gy's type)
Resolver = Callable[[Sequence[tuple[int, str]]], str | None]


def e164(number: Number | None, country_code: str) -> str | None:
    if number is None or not number.digits:
        return None
    if number.international or not country_code:
        return number.digits
    return country_code + number.digits.removeprefix("0")


@dataclass(frozen=True, slots=True)
class Parties:
    msisdn: str | None  # the served subscriber
    imsi: str | None
    other: str | None  # the party the tariff prices

    def account(self, resolve: Resolver) -> str | None:
        ids = [(E164, self.msisdn)] if self.msisdn else []
        if self.imsi:
            ids.append((IMSI, self.imsi))
        return resolve(ids)
