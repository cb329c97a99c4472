"""A Gy client for tests, built on python-diameter: an encoder and decoder we did not write.

CCRs are composed with python-diameter's message classes and CCAs are read back
with its parser, so every round trip checks our Gy codec against another
implementation.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from diameter.message import Message as PdMessage
from diameter.message.avp.grouped import (
    ImsInformation,
    MultipleServicesCreditControl,
    RecipientAddress,
    RecipientInfo,
    RequestedServiceUnit,
    ServiceInformation,
    SmsInformation,
    SubscriptionId,
    UsedServiceUnit,
)
from diameter.message.commands.capabilities_exchange import CapabilitiesExchangeRequest
from diameter.message.commands.credit_control import CreditControlAnswer, CreditControlRequest

GY = 4


def mscc(
    rating_group: int,
    *,
    rsu: int | None = None,
    rsu_empty: bool = False,
    used: int | None = None,
    seconds: bool = False,
    final: bool = False,
) -> MultipleServicesCreditControl:
    """One MSCC: ask for `rsu` (or an empty RSU), report `used`, octets unless `seconds`."""
    item = MultipleServicesCreditControl(rating_group=rating_group)
    if rsu is not None:
        item.requested_service_unit = (
            RequestedServiceUnit(cc_time=rsu)
            if seconds
            else RequestedServiceUnit(cc_total_octets=rsu)
        )
    elif rsu_empty:
        item.requested_service_unit = RequestedServiceUnit()
    if used is not None:
        usu = UsedServiceUnit(cc_time=used) if seconds else UsedServiceUnit(cc_total_octets=used)
        item.used_service_unit.append(usu)
    if final:
        item.reporting_reason.append(2)  # FINAL
    return item


def called(address: str) -> ServiceInformation:
    """Service-Information of an IMS call to `address` (TS 32.299 Called-Party-Address)."""
    return ServiceInformation(ims_information=ImsInformation(called_party_address=address))


def sms_to(address: str) -> ServiceInformation:
    """Service-Information of an SMS to `address` (Recipient-Info/Recipient-Address)."""
    recipient = RecipientInfo(recipient_address=[RecipientAddress(address_data=address)])
    return ServiceInformation(sms_information=SmsInformation(recipient_info=[recipient]))


def ccr(
    session_id: str,
    request_type: int,
    number: int,
    *services: MultipleServicesCreditControl,
    msisdn: str | None = "4911",
    context: str = "32251@3gpp.org",
    retransmit: bool = False,
    hop: int = 0,
    e2e: int = 0,
    requested_action: int | None = None,
    service_information: ServiceInformation | None = None,
) -> bytes:
    request = CreditControlRequest()
    request.header.application_id = GY
    request.header.hop_by_hop_identifier = hop
    request.header.end_to_end_identifier = e2e
    request.header.is_retransmit = retransmit
    request.session_id = session_id
    request.origin_host = b"pgw.test"
    request.origin_realm = b"test"
    request.destination_realm = b"omnigw.test"
    request.auth_application_id = GY
    request.service_context_id = context
    request.cc_request_type = request_type
    request.cc_request_number = number
    if msisdn is not None:
        request.subscription_id = [
            SubscriptionId(subscription_id_type=0, subscription_id_data=msisdn)
        ]
    if requested_action is not None:
        request.requested_action = requested_action
    for item in services:
        request.multiple_services_credit_control.append(item)
    if service_information is not None:
        request.service_information = service_information
    wire: bytes = request.as_bytes()
    return wire


def cer(host: str = "pgw.test", realm: str = "test") -> bytes:
    request = CapabilitiesExchangeRequest()
    request.header.hop_by_hop_identifier = 1
    request.header.end_to_end_identifier = 1
    request.origin_host = host.encode()
    request.origin_realm = realm.encode()
    request.host_ip_address = ["127.0.0.1"]
    request.vendor_id = 0
    request.product_name = "gy-test-client"
    request.auth_application_id = [GY]
    wire: bytes = request.as_bytes()
    return wire


class GyClient:
    """One connection to omnigw's Diameter port, CER done, answers matched by hop-by-hop."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._hops = itertools.count(100)
        self._answers: dict[int, asyncio.Future[Any]] = {}
        self.requests: list[Any] = []  # what the server asked us (DWR, DPR)
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, port: int) -> GyClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        cea = await client.send(cer(), hop=1)
        assert cea.result_code == 2001, cea
        return client

    async def _read(self) -> None:
        while True:
            head = await self._reader.readexactly(4)
            rest = await self._reader.readexactly(int.from_bytes(head[1:4], "big") - 4)
            message = PdMessage.from_bytes(head + rest)
            if message.header.is_request:
                self.requests.append(message)
                continue
            future = self._answers.pop(message.header.hop_by_hop_identifier, None)
            if future is not None:
                future.set_result(message)

    async def send(self, wire: bytes, hop: int | None = None) -> Any:
        if hop is None:
            hop = next(self._hops)
            wire = wire[:12] + hop.to_bytes(4, "big") + wire[16:]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._answers[hop] = future
        self._writer.write(wire)
        return await asyncio.wait_for(future, 10)

    async def ask(self, wire: bytes) -> CreditControlAnswer:
        answer = await self.send(wire)
        assert isinstance(answer, CreditControlAnswer), answer
        return answer

    async def close(self) -> None:
        self._task.cancel()
        self._writer.close()
