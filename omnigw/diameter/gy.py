"""The Gy application: credit-control sessions, one OCS charge per rating group.

A session lives from CCR-Initial to CCR-Termination. Each MSCC names a rating
group (or service identifier); its charge is initiated, updated with what was
used and what is wanted, and terminated, against the OCS backend. RFC 4006
lets a client send its next CCR only after the previous answer, so the last
request and its answer are all a session keeps for duplicates: a repeat of
that (Session-Id, CC-Request-Number), with or without the T flag, gets the
same answer, or waits for it while the original is being charged; nothing is
charged twice. Ended sessions and events are remembered for
`duplicate_seconds`. Sessions with no CCR for `idle_seconds` are terminated
towards the OCS and reported as orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from omnigw.config import GyConfig
from omnigw.diameter.ccr import (
    CREDIT_CONTROL,
    DIRECT_DEBITING,
    ERROR_MESSAGE,
    REQUESTED_ACTION,
    RESULT_CODE,
    SERVICE_CONTEXT_ID,
    Cca,
    Ccr,
    RequestType,
    ServiceAnswer,
    ServiceRequest,
    SubscriptionType,
    build_cca,
    parse_ccr,
    request_numbers,
)
from omnigw.diameter.codec import FLAG_ERROR, INVALID_AVP_VALUE, Avp, DecodeError, Message
from omnigw.diameter.metrics import CCR_LATENCY, CCRS, DUPLICATES, ORPHANED, SESSIONS
from omnigw.ocs.charge import Charge, Grant, Ocs, OcsError, Outcome, Unit

log = logging.getLogger("omnigw.diameter.gy")

SUCCESS = 2001
COMMAND_UNSUPPORTED = 3001
TOO_BUSY = 3004
END_USER_SERVICE_DENIED = 4010
UNKNOWN_SESSION = 5002
UNABLE_TO_COMPLY = 5012
USER_UNKNOWN = 5030
# What each OCS outcome is on Gy (RFC 4006 8.1, RFC 6733 7.1)
RESULT_CODES = {
    Outcome.NO_CREDIT: 4012, Outcome.ACCOUNT_DISABLED: END_USER_SERVICE_DENIED,
    Outcome.UNKNOWN_ACCOUNT: USER_UNKNOWN, Outcome.RATING_FAILED: 5031,
    Outcome.UNKNOWN_CHARGE: UNKNOWN_SESSION, Outcome.FAILED: UNABLE_TO_COMPLY,
    Outcome.UNAVAILABLE: UNABLE_TO_COMPLY, Outcome.BUSY: TOO_BUSY,
}  # fmt: skip
SESSION_WIDE = frozenset({USER_UNKNOWN, END_USER_SERVICE_DENIED})  # fail the whole CCR
TYPE_NAMES = {t: t.name.lower() for t in RequestType}

# Subscription-Ids -> account; None if none is known; may raise OcsError to refuse one.
AccountResolver = Callable[[Sequence[tuple[int, str]]], str | None]


def account_resolver(account_from: str) -> AccountResolver:
    """Subscription-Id -> charging account, taken as it comes (E.164, IMSI or the first)."""
    wanted = {"e164": SubscriptionType.E164, "imsi": SubscriptionType.IMSI}.get(account_from)

    def resolve(subscriptions: Sequence[tuple[int, str]]) -> str | None:
        for kind, data in subscriptions:
            if wanted is None or kind == wanted:
                return data
        return None

    return resolve


@dataclass(slots=True)
class OpenCharge:
    """A rating group of a session, as its OCS charge knows it."""

    key: str
    unit: Unit
    rating_group: int | None
    service_id: int | None
    service_context: str
    other_party: str | None

    @classmethod
    def of(cls, ccr: Ccr, service: ServiceRequest) -> OpenCharge:
        return cls(f"{ccr.session_id}_{service.name}", service.unit, service.rating_group,
                   service.service_id, ccr.service_context, ccr.called)  # fmt: skip

    def charge(
        self, session_id: str, request_id: str, account: str, requested: int | None, used: int
    ) -> Charge:
        return Charge(self.key, session_id, request_id, account, self.unit, requested, used,
                      datetime.now(UTC), self.rating_group, self.service_id,
                      self.service_context, self.other_party)  # fmt: skip


@dataclass(slots=True)
class InFlight:
    """A request being charged; repeats that arrive meanwhile wait here for its answer.

    A future is made only for a repeat: most requests are answered without one.
    """

    waiters: list[asyncio.Future[Message]] = field(default_factory=list)

    def wait(self) -> asyncio.Future[Message]:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        return future

    def answered(self, answer: Message) -> None:
        for future in self.waiters:
            if not future.done():
                future.set_result(answer)

    def cancel(self) -> None:
        for future in self.waiters:
            future.cancel()


@dataclass(slots=True)
class GySession:
    id: str
    account: str
    number: int
    seen: float
    answer: Message | None = None  # the answer to request `number`, for replays
    pending: InFlight | None = None  # while request `number` is in hand
    charges: dict[str, OpenCharge] = field(default_factory=dict)


class GyApplication:
    def __init__(
        self,
        cfg: GyConfig,
        ocs: Ocs,
        origin: list[Avp],
        resolve: AccountResolver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self._ocs = ocs
        self._origin = [replace(avp).frozen() for avp in origin]  # in every answer
        self._resolve = resolve or account_resolver(cfg.account_from)
        self._clock = clock
        self.sessions: dict[str, GySession] = {}
        # Ended sessions and events: key -> (forget at, request number, answer or in flight)
        self._ended: OrderedDict[str, tuple[float, int, Message | InFlight]] = OrderedDict()
        self._draining = False
        self._series: dict[tuple[RequestType | None, int], tuple[str, str]] = {}  # labels
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    def drain(self) -> None:
        """Shutting down: existing sessions are served, new ones are sent elsewhere (3004)."""
        self._draining = True

    # --- one request ---------------------------------------------------------------------

    async def __call__(self, request: Message) -> Message:
        started = time.perf_counter()
        if request.command != CREDIT_CONTROL:  # RFC 6733 7.1.3
            self._count(None, COMMAND_UNSUPPORTED, started)
            return request.answer(
                [Avp.of_u32(RESULT_CODE, COMMAND_UNSUPPORTED), *self._origin,
                 Avp.of_text(ERROR_MESSAGE, f"command {request.command} is not served",
                             mandatory=False)],
                error=True,
            )  # fmt: skip
        try:
            ccr = parse_ccr(request)
        except DecodeError as exc:
            kind, number = request_numbers(request)
            answer = self._cca(request, kind, number, Cca(exc.result_code, [], exc.reason, exc.avp))
            self._count(None, exc.result_code, started)
            return answer
        replay = self._duplicate(ccr)
        if replay is not None:
            original = replay if isinstance(replay, Message) else await replay.wait()
            DUPLICATES.labels("replayed" if replay is original else "waited").inc()
            return request.answer(original.avps, error=bool(original.flags & FLAG_ERROR))
        flight = InFlight()
        session = self._claim(ccr, flight)
        try:
            cca = await self._handle(ccr, session)
        except OcsError as exc:
            cca = Cca(RESULT_CODES[exc.outcome], [], exc.reason)
        except Exception:
            log.exception("CCR failed", extra={"session": ccr.session_id})
            cca = Cca(UNABLE_TO_COMPLY, [], "internal error")
        except BaseException:
            flight.cancel()  # shutting down: a waiting repeat is cancelled with us
            raise
        answer = self._cca(request, ccr.request_type, ccr.request_number, cca)
        self._settle(ccr, session, answer)
        flight.answered(answer)
        self._count(ccr.request_type, cca.result_code, started)
        return answer

    def _duplicate(self, ccr: Ccr) -> Message | InFlight | None:
        session = self.sessions.get(ccr.session_id)
        if session is not None and session.number == ccr.request_number:
            return session.pending or session.answer
        ended = self._ended.get(self._ended_key(ccr))
        if ended is not None and ended[1] == ccr.request_number:
            return ended[2]
        return None

    @staticmethod
    def _ended_key(ccr: Ccr) -> str:
        if ccr.request_type is RequestType.EVENT:
            return f"{ccr.session_id};{ccr.request_number}"
        return ccr.session_id

    def _claim(self, ccr: Ccr, flight: InFlight) -> GySession | None:
        """Mark the request as in hand, so a repeat waits for it."""
        now = self._clock()
        if ccr.request_type is RequestType.EVENT:
            self._remember(self._ended_key(ccr), ccr.request_number, flight)
            return None
        session = self.sessions.get(ccr.session_id)
        if ccr.request_type is RequestType.INITIAL:
            if session is not None:
                return None  # a second CCR-I for a live session: refused, session untouched
            session = GySession(ccr.session_id, "", ccr.request_number, now)
            self.sessions[ccr.session_id] = session
            SESSIONS.set(len(self.sessions))
        if session is not None:
            session.number, session.pending, session.answer = ccr.request_number, flight, None
            session.seen = now
        return session

    def _settle(self, ccr: Ccr, session: GySession | None, answer: Message) -> None:
        if session is None:
            if ccr.request_type is RequestType.EVENT:
                self._remember(self._ended_key(ccr), ccr.request_number, answer)
            return
        session.pending, session.answer = None, answer
        ended = ccr.request_type is RequestType.TERMINATION or (
            ccr.request_type is RequestType.INITIAL and _result_of(answer) != SUCCESS
        )
        if ended and self.sessions.get(session.id) is session:
            del self.sessions[session.id]
            SESSIONS.set(len(self.sessions))
            self._remember(session.id, ccr.request_number, answer)

    def _remember(self, key: str, number: int, answer: Message | InFlight) -> None:
        now = self._clock()
        self._ended[key] = (now + self.cfg.duplicate_seconds, number, answer)
        self._ended.move_to_end(key)
        while self._ended:
            oldest = next(iter(self._ended.values()))
            if oldest[0] > now:
                break
            self._ended.popitem(last=False)

    def _cca(self, request: Message, ccr_type: int, number: int, cca: Cca) -> Message:
        return build_cca(request, ccr_type, number, cca, self._origin, self.cfg.failure_handling)

    def _count(self, ccr_type: RequestType | None, result: int, started: float) -> None:
        key = (ccr_type, result)
        labels = self._series.get(key)
        if labels is None:
            name = TYPE_NAMES[ccr_type] if ccr_type is not None else "invalid"
            labels = self._series[key] = (name, str(result))
        CCRS.inc(labels)
        CCR_LATENCY.observe(labels[:1], time.perf_counter() - started)

    # --- credit control ------------------------------------------------------------------

    async def _handle(self, ccr: Ccr, session: GySession | None) -> Cca:
        if not ccr.service_context.endswith(self.cfg.service_context_suffix):
            failed = Avp.of_text(SERVICE_CONTEXT_ID, ccr.service_context)
            return Cca(INVALID_AVP_VALUE, [], "Service-Context-Id not served", failed)
        kind = ccr.request_type
        if kind is RequestType.EVENT:
            return await self._event(ccr)
        if session is None:
            if kind is RequestType.INITIAL:
                return Cca(UNABLE_TO_COMPLY, [], "session already initiated")
            return Cca(UNKNOWN_SESSION, [], "no such session")
        if kind is RequestType.INITIAL:
            if self._draining:
                return Cca(TOO_BUSY, [], "shutting down")
            account = self._account(ccr)
            if isinstance(account, Cca):
                return account
            session.account = account
            if not ccr.services:  # nothing to charge yet; but is there an account to charge?
                await self._ocs.admit(account)
                return Cca(SUCCESS)
        if kind is RequestType.TERMINATION:
            return await self._terminate(ccr, session)
        return self._outcome(await _gather([self._service(ccr, session, s) for s in ccr.services]))

    @staticmethod
    def _request_id(ccr: Ccr, name: str) -> str:
        """Unique per request and rating group, the same for a retransmission."""
        return f"{ccr.session_id};{ccr.request_number};{name}"

    async def _service(
        self, ccr: Ccr, session: GySession, service: ServiceRequest
    ) -> ServiceAnswer:
        """One MSCC of a CCR-I or CCR-U."""
        name = service.name
        request_id = self._request_id(ccr, name)
        current = session.charges.get(name)
        try:
            if current is None:
                current = OpenCharge.of(ccr, service)
                grant = await self._ocs.initiate(
                    current.charge(session.id, request_id, session.account, service.requested, 0)
                )
                session.charges[name] = current
            elif service.final:
                del session.charges[name]
                await self._ocs.terminate(
                    current.charge(session.id, request_id, session.account, 0, service.used)
                )
                return ServiceAnswer(service.rating_group, service.service_id, SUCCESS)
            else:
                requested = service.requested if service.asked else 0
                grant = await self._ocs.update(
                    current.charge(session.id, request_id, session.account, requested,
                                   service.used)
                )  # fmt: skip
                if not service.asked:
                    return ServiceAnswer(service.rating_group, service.service_id, SUCCESS)
        except OcsError as exc:
            return ServiceAnswer(
                service.rating_group, service.service_id, RESULT_CODES[exc.outcome]
            )
        return self._granted(service, current.unit, grant)

    def _granted(self, service: ServiceRequest, unit: Unit, grant: Grant) -> ServiceAnswer:
        return ServiceAnswer(
            service.rating_group, service.service_id, SUCCESS, unit, grant.amount,
            self.cfg.validity_seconds, grant.amount * self.cfg.threshold_percent // 100,
            grant.final,
        )  # fmt: skip

    async def _terminate(self, ccr: Ccr, session: GySession) -> Cca:
        used = {s.name: s.used for s in ccr.services}
        calls = [
            self._ocs.terminate(current.charge(session.id, self._request_id(ccr, name),
                                               session.account, 0, used.get(name, 0)))
            for name, current in session.charges.items()
        ]  # fmt: skip
        session.charges.clear()
        if len(calls) == 1:  # the common case, awaited without a task
            results: list[BaseException | None] = [await _caught(calls[0])]
        else:
            results = await asyncio.gather(*calls, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.warning("OCS terminate failed", extra={"session": session.id,
                                                           "error": str(result)})  # fmt: skip
        return Cca(SUCCESS)

    def _account(self, ccr: Ccr) -> str | Cca:
        """The charging account, or the answer refusing the subscriber (unknown, barred)."""
        try:
            account = self._resolve(ccr.subscriptions)
        except OcsError as exc:
            return Cca(RESULT_CODES[exc.outcome], [], exc.reason)
        if account is None:
            return Cca(USER_UNKNOWN, [], "no Subscription-Id names an account")
        return account

    async def _event(self, ccr: Ccr) -> Cca:
        if ccr.requested_action not in (None, DIRECT_DEBITING):
            failed = Avp.of_u32(REQUESTED_ACTION, ccr.requested_action)
            return Cca(INVALID_AVP_VALUE, [], "only DIRECT_DEBITING is served", failed)
        account = self._account(ccr)
        if isinstance(account, Cca):
            return account

        async def one(service: ServiceRequest) -> ServiceAnswer:
            current = OpenCharge.of(ccr, service)
            request_id = self._request_id(ccr, service.name)
            try:
                grant = await self._ocs.debit(
                    current.charge(ccr.session_id, request_id, account, service.requested, 0)
                )
            except OcsError as exc:
                return ServiceAnswer(
                    service.rating_group, service.service_id, RESULT_CODES[exc.outcome]
                )
            return self._granted(service, service.unit, grant)

        return self._outcome(await _gather([one(s) for s in ccr.services]))

    @staticmethod
    def _outcome(services: list[ServiceAnswer]) -> Cca:
        """Top-level Result-Code: success if any rating group succeeded (or none was asked);
        a session-wide refusal, or the one failure every rating group shares, otherwise."""
        failures = [s.result_code for s in services if s.result_code != SUCCESS]
        for code in failures:
            if code in SESSION_WIDE:
                return Cca(code)
        if not failures or len(failures) < len(services):
            return Cca(SUCCESS, services)
        return Cca(failures[0], services)

    # --- idle sessions -------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        interval = min(30.0, self.cfg.idle_seconds / 10)
        while True:
            await asyncio.sleep(interval)
            await self.sweep()

    async def sweep(self) -> int:
        """Terminate sessions idle for `idle_seconds`; returns how many."""
        deadline = self._clock() - self.cfg.idle_seconds
        idle = [s for s in self.sessions.values() if s.seen < deadline and s.pending is None]
        for session in idle:
            del self.sessions[session.id]
            charges = list(session.charges.values())
            session.charges.clear()
            for current in charges:
                request_id = f"{session.id};idle;{current.key}"
                try:
                    await self._ocs.terminate(
                        current.charge(session.id, request_id, session.account, 0, 0)
                    )
                except OcsError as exc:
                    log.warning("OCS terminate of an idle session failed",
                                extra={"session": session.id, "error": exc.reason})  # fmt: skip
            ORPHANED.inc()
            log.warning(
                "Gy session idle: terminated",
                extra={"session": session.id, "account": session.account,
                       "rating_groups": len(charges)},
            )  # fmt: skip
        SESSIONS.set(len(self.sessions))
        return len(idle)


async def _caught(call: Awaitable[None]) -> Exception | None:
    try:
        await call
    except Exception as exc:
        return exc
    return None


async def _gather(calls: list[Awaitable[ServiceAnswer]]) -> list[ServiceAnswer]:
    if len(calls) == 1:  # the common case, without a task per call
        return [await calls[0]]
    return list(await asyncio.gather(*calls))


def _result_of(answer: Message) -> int:
    avp = answer.find(RESULT_CODE)
    return avp.u32() if avp is not None else 0
