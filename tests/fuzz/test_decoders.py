"""Every decoder that reads bytes from outside, fed mutated and random input: nothing but
its own decode error may come out (hypothesis; bounded so `make test` stays quick)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnigw.api.routes import parse_body
from omnigw.cbc import cap as cap_xml
from omnigw.cbc.api import AlertIn
from omnigw.cbc.cbsp import codec as cbsp
from omnigw.cbc.doors.ecbe import EcbeMessage
from omnigw.diameter import codec as diameter
from omnigw.diameter.ccr import parse_ccr
from omnigw.errors import Invalid
from tests.cbc.cbsp.test_codec import _samples
from tests.cbc.test_cap import CAP11_QUAKE, LATIN1_FIRE, cap
from tests.diameter.test_gy import INITIAL, U
from tests.support.gy import ccr, mscc

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A valid message with a few bytes flipped, cut, inserted or its length fields lied."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "byte"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif data:
            data[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF]))
    return bytes(data)


CBSP_SEEDS = [cbsp.encode(pdu) for pdu in _samples()]


@FUZZ
@given(st.one_of(mutated(CBSP_SEEDS), st.binary(max_size=300)))
def test_cbsp_decoders_raise_only_their_decode_error(frame: bytes) -> None:
    with contextlib.suppress(cbsp.DecodeError):
        cbsp.frame_length(frame)
    for read in (cbsp.decode, cbsp.peek):
        with contextlib.suppress(cbsp.DecodeError):
            read(frame)


DIAMETER_SEEDS = [
    ccr("s;1", INITIAL, 0, mscc(10, rsu=1000)),
    ccr("s;1", U, 1, mscc(10, rsu=1000, used=500), mscc(20, used=7, seconds=True)),
    ccr("s;2", 4, 0, mscc(3, rsu=1), requested_action=0),
]


@FUZZ
@given(st.one_of(mutated(DIAMETER_SEEDS), st.binary(max_size=300)))
def test_diameter_decoders_raise_only_their_decode_error(frame: bytes) -> None:
    try:
        diameter.frame_length(frame)
        message = diameter.decode(frame)
    except diameter.DecodeError:
        return
    with contextlib.suppress(diameter.DecodeError):
        parse_ccr(message)


CAP_SEEDS = [cap().encode(), CAP11_QUAKE, LATIN1_FIRE,
             cap(area="<circle>41,2 5</circle>", msg_type="Update",
                 references="a,b,2026-01-01T00:00:00+00:00").encode()]  # fmt: skip


@FUZZ
@given(st.one_of(mutated(CAP_SEEDS), st.binary(max_size=200), st.text(max_size=200)))
def test_the_cap_parser_raises_only_cap_error(document: bytes | str) -> None:
    with contextlib.suppress(cap_xml.CapError):
        cap_xml.parse(document)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)  # fmt: skip


def _as_json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


ALERT_SEED = (
    b'{"class": "extreme", "texts": [{"language": "en", "text": "Flood"}], '
    b'"target": {"polygon": [[41, 2], [42, 2], [42, 3]]}, "duration_seconds": 60}'
)
ECBE_SEED = (b'{"cbe_name": "x", "category": "normal", "repetition_period": 5, '
             b'"num_of_bcast": 1, "scope": {"scope_plmn": {}}, "smscb_message": '
             b'{"message_id": 4371, "serial_nr": {"serial_nr_encoded": 1}, "payload": '
             b'{"payload_decoded": {"character_set": "gsm", "data_utf8": "hi"}}}}')  # fmt: skip


@FUZZ
@given(st.one_of(mutated([ALERT_SEED, ECBE_SEED]), json_values.map(_as_json),
                 st.binary(max_size=200)))  # fmt: skip
def test_the_json_doors_answer_only_invalid(body: bytes) -> None:
    for model in (AlertIn, EcbeMessage):
        with contextlib.suppress(Invalid):
            parse_body(body, model)
