"""SBc-AP causes (TS 29.168 4.3.4.3.1): their values, names, and what each means to the
authority reading an alert's status."""

from __future__ import annotations

from enum import IntEnum


class Cause(IntEnum):
    """SBc-AP Cause (TS 29.168 4.3.4.3.1)."""

    MESSAGE_ACCEPTED = 0
    PARAMETER_NOT_RECOGNISED = 1
    PARAMETER_VALUE_INVALID = 2
    VALID_MESSAGE_NOT_IDENTIFIED = 3
    TRACKING_AREA_NOT_VALID = 4
    UNRECOGNISED_MESSAGE = 5
    MISSING_MANDATORY_ELEMENT = 6
    MME_CAPACITY_EXCEEDED = 7
    MME_MEMORY_EXCEEDED = 8
    WARNING_BROADCAST_NOT_SUPPORTED = 9
    WARNING_BROADCAST_NOT_OPERATIONAL = 10
    MESSAGE_REFERENCE_ALREADY_USED = 11
    UNSPECIFIED_ERROR = 12
    TRANSFER_SYNTAX_ERROR = 13
    SEMANTIC_ERROR = 14
    MESSAGE_NOT_COMPATIBLE_WITH_RECEIVER_STATE = 15
    ABSTRACT_SYNTAX_ERROR_REJECT = 16
    ABSTRACT_SYNTAX_ERROR_IGNORE_AND_NOTIFY = 17
    ABSTRACT_SYNTAX_ERROR_FALSELY_CONSTRUCTED_MESSAGE = 18


# What each refusal means for the authority reading the alert's status.
MEANING = {
    Cause.MESSAGE_ACCEPTED: "the MME took the request (this says nothing about phones)",
    Cause.PARAMETER_NOT_RECOGNISED: "the MME did not recognise a parameter",
    Cause.PARAMETER_VALUE_INVALID: "the MME found a parameter value invalid",
    Cause.VALID_MESSAGE_NOT_IDENTIFIED: "the MME holds no such warning",
    Cause.TRACKING_AREA_NOT_VALID: "none of the tracking areas is served by the MME",
    Cause.UNRECOGNISED_MESSAGE: "the MME does not know this message",
    Cause.MISSING_MANDATORY_ELEMENT: "the MME found a mandatory element missing",
    Cause.MME_CAPACITY_EXCEEDED: "the MME is at capacity",
    Cause.MME_MEMORY_EXCEEDED: "the MME is out of memory",
    Cause.WARNING_BROADCAST_NOT_SUPPORTED: "the MME does not support warning broadcast",
    Cause.WARNING_BROADCAST_NOT_OPERATIONAL: "warning broadcast is not operational on the MME",
    Cause.MESSAGE_REFERENCE_ALREADY_USED: "the MME already holds this message",
    Cause.UNSPECIFIED_ERROR: "the MME gave no reason",
    Cause.TRANSFER_SYNTAX_ERROR: "the MME could not decode the request",
    Cause.SEMANTIC_ERROR: "the MME found the request inconsistent",
    Cause.MESSAGE_NOT_COMPATIBLE_WITH_RECEIVER_STATE: "the MME did not expect the request now",
}


def cause_text(value: int) -> str:
    """A cause's name as the logs and the status API show it ('unknown-40' if not one)."""
    try:
        return Cause(value).name.lower().replace("_", "-")
    except ValueError:
        return f"unknown-{value}"
