"""The per (message, peer) machine, driven with events and no sockets."""

from __future__ import annotations

import pytest

from omnigw.cbc.delivery import DeliveryState, Do, Event, step

S, E = DeliveryState, Event


@pytest.mark.parametrize("state", [S.KILLED, S.KILLING, S.KILL_PENDING])
def test_retarget_brings_back_a_delivery_the_area_had_left(state: DeliveryState) -> None:
    assert step(state, E.RETARGET, 3, 3, peer_up=True).state is S.WRITING
    assert Do.WRITE in step(state, E.RETARGET, 3, 3, peer_up=True).actions
    assert step(state, E.RETARGET, 3, 3, peer_up=False).state is S.PENDING


def test_a_cancelled_delivery_stays_killed_on_update() -> None:
    assert step(S.KILLED, E.UPDATE, 1, 3, peer_up=True).state is S.KILLED


@pytest.mark.parametrize("state", [S.ACTIVE, S.WRITING, S.FAILED, S.PENDING])
def test_retarget_of_a_live_delivery_writes_it_again(state: DeliveryState) -> None:
    result = step(state, E.RETARGET, 2, 3, peer_up=True)
    assert (result.state, result.actions, result.attempts) == (
        S.WRITING, (Do.STOP_TIMER, Do.WRITE), 1
    )  # fmt: skip
