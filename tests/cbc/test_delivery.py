"""The per (message, peer) machine as a transition table, driven with events and no sockets.

Every (state, event) pair is listed or is a no-op: `test_every_other_pair_changes_nothing`
walks the whole product, so a transition added without a row here fails.
"""

from __future__ import annotations

import itertools

import pytest

from omnigw.cbc.delivery import AlertProgress, DeliveryState, Do, Event, Step, step

S, E = DeliveryState, Event
MAX = 3  # max_attempts
STOP, CONFIRM = Do.STOP_TIMER, Do.CONFIRM
WRITE, KILL = (Do.START_TIMER, Do.WRITE), (Do.START_TIMER, Do.KILL)  # each waits for its answer

# (state, event, peer up, attempts before) -> (state, actions, attempts after)
TABLE: list[tuple[S, E, bool, int, S, tuple[Do, ...], int]] = [
    # the link comes and goes
    (S.PENDING, E.PEER_UP, True, 0, S.WRITING, WRITE, 1),
    (S.KILL_PENDING, E.PEER_UP, True, 0, S.KILLING, KILL, 1),
    (S.WRITING, E.PEER_DOWN, False, 2, S.PENDING, (STOP,), 2),
    (S.KILLING, E.PEER_DOWN, False, 1, S.KILL_PENDING, (STOP,), 1),
    # the peer answers a WRITE-REPLACE
    (S.WRITING, E.COMPLETE, True, 1, S.ACTIVE, (STOP, CONFIRM), 1),
    (S.WRITING, E.FAILURE, True, 1, S.FAILED, (STOP,), 1),
    (S.WRITING, E.TIMEOUT, True, 1, S.WRITING, WRITE, 2),
    # ... or a KILL
    (S.KILLING, E.KILL_COMPLETE, True, 1, S.KILLED, (STOP,), 1),
    (S.KILLING, E.KILL_FAILURE, True, 1, S.KILLED, (STOP,), 1),
    (S.KILLING, E.TIMEOUT, True, 1, S.KILLING, KILL, 2),
    (S.KILLING, E.TIMEOUT, True, MAX, S.KILLED, (), MAX),  # given up: cancelled anyway
    # the alert is cancelled or expires
    (S.PENDING, E.CANCEL, True, 0, S.KILLED, (), 0),  # never installed anywhere
    (S.FAILED, E.CANCEL, True, 3, S.KILLED, (), 3),
    (S.WRITING, E.CANCEL, True, 2, S.KILLING, (STOP, *KILL), 1),
    (S.ACTIVE, E.CANCEL, True, 1, S.KILLING, (STOP, *KILL), 1),
    (S.WRITING, E.CANCEL, False, 2, S.KILL_PENDING, (STOP,), 0),
    (S.ACTIVE, E.CANCEL, False, 1, S.KILL_PENDING, (STOP,), 0),
]
# An update, a peer's restart with data lost, or a new area: written again from scratch.
for _state in (S.ACTIVE, S.WRITING, S.FAILED, S.PENDING):
    for _event in (E.UPDATE, E.RESTART, E.RETARGET):
        TABLE.append((_state, _event, True, 2, S.WRITING, (STOP, *WRITE), 1))
        TABLE.append((_state, _event, False, 2, S.PENDING, (STOP,), 0))
# A new area that covers this peer again brings back a delivery killed because it had left.
for _state in (S.KILLED, S.KILLING, S.KILL_PENDING):
    TABLE.append((_state, E.RETARGET, True, 3, S.WRITING, (STOP, *WRITE), 1))
    TABLE.append((_state, E.RETARGET, False, 3, S.PENDING, (STOP,), 0))


@pytest.mark.parametrize(("state", "event", "up", "before", "after", "actions", "attempts"),
                         TABLE)  # fmt: skip
def test_transition(
    state: S, event: E, up: bool, before: int, after: S, actions: tuple[Do, ...], attempts: int
) -> None:
    assert step(state, event, before, MAX, up) == Step(after, actions, attempts)


def test_a_failure_some_cells_took_is_active() -> None:
    result = step(S.WRITING, E.FAILURE, 1, MAX, True, partial=True)
    assert result == Step(S.ACTIVE, (STOP, CONFIRM), 1)


def test_the_machine_says_why_it_gave_up() -> None:
    assert step(S.WRITING, E.TIMEOUT, MAX, MAX, True) == Step(
        S.FAILED, (), MAX, f"no answer after {MAX} attempts"
    )
    assert step(S.WRITING, E.NO_CELLS, 1, MAX, True) == Step(
        S.KILLED, (STOP,), 1, "no target cell served by this peer"
    )


def test_every_other_pair_changes_nothing() -> None:
    listed = {(state, event) for state, event, *_ in TABLE}
    listed |= {(S.WRITING, E.FAILURE), (S.WRITING, E.TIMEOUT), (S.WRITING, E.NO_CELLS)}
    for state, event, up in itertools.product(S, E, (True, False)):
        if (state, event) in listed:
            continue
        assert step(state, event, 2, MAX, up) == Step(state, (), 2), (state, event, up)


def test_an_alert_is_delivered_once_every_delivery_settled() -> None:
    progress = AlertProgress()
    for _ in range(3):
        progress.added(S.PENDING)
    assert not progress.changed(S.PENDING, S.WRITING, active=True)
    assert not progress.changed(S.WRITING, S.ACTIVE, active=True)
    assert not progress.changed(S.PENDING, S.FAILED, active=True)
    assert progress.changed(S.PENDING, S.KILLED, active=True)  # the last one: delivered
    assert not progress.changed(S.ACTIVE, S.ACTIVE, active=True)  # once only
    progress.restarted()  # an update: delivered again when every peer has it
    assert not progress.changed(S.ACTIVE, S.WRITING, active=True)
    assert progress.changed(S.WRITING, S.ACTIVE, active=True)


def test_a_cancelled_alert_is_not_delivered() -> None:
    progress = AlertProgress()
    progress.added(S.WRITING)
    assert not progress.changed(S.WRITING, S.ACTIVE, active=False)
