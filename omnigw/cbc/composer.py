"""An alert's messages: one per language (or one ETWS message, or one of an explicit
identifier), each with its TS 23.041 serial number. A message code is never reused while
a message of the same identifier with that code is live (TS 23.041 9.4.1.2.1)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from omnigw.cbc.messages import (
    AlertClass,
    EncodedText,
    SerialNumber,
    encode_text,
    etws_warning_type,
    is_etws,
    message_identifier,
)
from omnigw.cbc.models import Message
from omnigw.cbc.runtime import AlertSpec, Runtime, Text
from omnigw.errors import Conflict, Invalid

# (message identifier, text, its encoding) of one message an alert wants
Wanted = tuple[int, Text | None, EncodedText | None]


class Composer:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self.message_ids = itertools.count(1)  # continued from the store at load
        self.last_code: dict[int, int] = {}  # message identifier -> last code given

    def _allocate_code(self, identifier: int) -> int:
        """A message code no live message with this identifier uses (TS 23.041 9.4.1.2.1)."""
        used = self._rt.codes.get(identifier, set())
        start = self.last_code.get(identifier, 0) + 1
        for offset in range(1024):
            code = (start + offset) % 1024
            if code not in used:
                self.last_code[identifier] = code
                return code
        raise Conflict(f"message identifier {identifier}: all 1024 message codes are live")

    @staticmethod
    def messages(spec: AlertSpec) -> list[Wanted]:
        """(identifier, text, encoding) per message of the alert; raises on bad input."""
        if spec.identifier is not None:
            enc = spec.encoded
            if enc is None and spec.texts:
                enc = encode_text(spec.texts[0].text, spec.texts[0].language)
            return [(spec.identifier, spec.texts[0] if spec.texts else None, enc)]
        assert spec.alert_class is not None
        if is_etws(spec.alert_class):
            text = spec.texts[0] if spec.texts else None
            return [(message_identifier(spec.alert_class), text, None)]
        languages = [t.language for t in spec.texts]
        if len(set(languages)) != len(languages):
            raise Invalid("texts: each language at most once (one message per language)")
        out: list[Wanted] = []
        for index, text in enumerate(spec.texts):
            ident = message_identifier(
                spec.alert_class, index > 0, spec.severity, spec.urgency, spec.certainty
            )
            out.append((ident, text, encode_text(text.text, text.language)))
        return out

    def rows(
        self,
        alert_id: str,
        spec: AlertSpec,
        cls: AlertClass | None,
        messages: Sequence[Wanted],
        first_index: int,
    ) -> list[Message]:
        """New message rows, each with its serial number (held under the submit lock)."""
        rows: list[Message] = []
        for index, (ident, text, enc) in enumerate(messages, first_index):
            if spec.serial is not None:
                if spec.serial.message_code in self._rt.codes.get(ident, set()):
                    code = spec.serial.message_code
                    raise Conflict(f"message {ident} with code {code} is already active")
                serial = spec.serial
            else:
                serial = SerialNumber(spec.target.scope, self._allocate_code(ident), 0)
            warning = spec.warning_type
            if warning is None and cls is not None and is_etws(cls):
                warning = etws_warning_type(cls)
            rows.append(Message(
                id=next(self.message_ids), alert_id=alert_id, index=index,
                language=text.language if text else None,
                text=text.text if text else "", message_identifier=ident,
                geo_scope=int(serial.geo_scope), message_code=serial.message_code,
                update_number=serial.update_number, dcs=enc.dcs if enc else 0,
                pages=[[p.length, p.content.hex()] for p in (enc.pages if enc else ())],
                warning_type=warning, stopped_at=None,
            ))  # fmt: skip
        return rows
