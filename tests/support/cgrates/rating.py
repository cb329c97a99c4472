"""Which tariff rates an event: CGRateS's rating profile and destination lookup, reduced to
the answer a client sees (rated with an increment, or refused with CGRateS's error).

engine/calldesc.go 249-266 (master 19463bd): the profile of Tenant:Category:Subject, else of
Tenant:Category:*any; none -> RATING_PLAN_NOT_FOUND. engine/ratingprofile.go 224-270: an
empty or "*any" Destination matches only a "*any" rate; otherwise the Destination's
prefixes, longest first (utils.SplitPrefix, MIN_PREFIX_MATCH 1), are looked up in the
reverse destinations, then "*any"; no rate -> UNAUTHORIZED_DESTINATION.
"""

from __future__ import annotations

from typing import Any

from tests.support.cgrates.state import CgrError, State, Tariff

DEFAULT_CATEGORY = "call"  # general.default_category (config/config_defaults.go)


def _profile(state: State, category: str, subject: str) -> Tariff | None:
    for wanted in (subject, "*any"):
        for tariff in state.tariffs:
            if tariff.category == category and tariff.subject == wanted:
                return tariff
    return None


def increment_of(state: State, event: dict[str, Any]) -> int:
    """The rate increment the event is charged in; raises CgrError as RALs would."""
    category = event.get("Category") or DEFAULT_CATEGORY
    subject = event.get("Subject") or event["Account"]
    tariff = _profile(state, category, subject)
    if tariff is None:
        raise CgrError("RATING_PLAN_NOT_FOUND")
    destination = event.get("Destination") or "*any"
    if destination != "*any":
        for end in range(len(destination), 0, -1):
            prefix = destination[:end]
            for dest_id, prefixes in state.destinations.items():
                if prefix in prefixes and dest_id in tariff.rates:
                    return tariff.rates[dest_id]
    if "*any" in tariff.rates:
        return tariff.rates["*any"]
    raise CgrError("UNAUTHORIZED_DESTINATION")
