"""The signed connection state and the token bucket inside it, with no socket."""

from __future__ import annotations

import pytest

from shared.errors import BadRequest, TooManyRequests
from shared.events.state import ConnectionState, full_bucket, read_state, spend, state_keys, write_state

KEYS = state_keys(None, ("primary-access-key-primary-access-key-0000",))
ROTATED = state_keys(None, ("secondary-access-key-secondary-access-key-0",))


def test_a_state_round_trips_for_its_connection_and_user() -> None:
    state = ConnectionState("alice", 2.5, 1000.0)
    assert read_state(write_state(state, "c1", KEYS[0]), "c1", "alice", KEYS) == state


@pytest.mark.parametrize(("connection_id", "user_id"), [("c2", "alice"), ("c1", "bob"), ("c1", None), ("C1", "alice")])
def test_a_state_is_bound_to_its_connection_and_user(connection_id: str, user_id: str | None) -> None:
    value = write_state(ConnectionState("alice", 1.0, 1.0), "c1", KEYS[0])
    with pytest.raises(BadRequest):
        read_state(value, connection_id, user_id, KEYS)


def test_any_changed_byte_is_refused() -> None:
    value = write_state(ConnectionState("alice", 0.0, 1.0), "c1", KEYS[0])
    for index in range(len(value)):
        changed = value[:index] + ("A" if value[index] != "A" else "B") + value[index + 1 :]
        with pytest.raises(BadRequest):
            read_state(changed, "c1", "alice", KEYS)


def test_the_derived_key_is_not_the_access_key_and_a_second_key_carries_a_rotation() -> None:
    assert b"primary-access-key" not in KEYS[0]
    value = write_state(ConnectionState(None, 1.0, 1.0), "c1", ROTATED[0])
    with pytest.raises(BadRequest):
        read_state(value, "c1", None, KEYS)
    assert read_state(value, "c1", None, KEYS + ROTATED).tokens == 1.0


def test_the_bucket_allows_its_rate_and_refills_evenly() -> None:
    bucket = full_bucket("alice", 3, now=0.0)
    for _ in range(3):
        bucket = spend(bucket, 3, now=0.0)
    with pytest.raises(TooManyRequests):
        spend(bucket, 3, now=0.0)
    with pytest.raises(TooManyRequests):
        spend(bucket, 3, now=19.0)  # 3 a minute: one more every 20 s
    assert spend(bucket, 3, now=20.0).tokens == pytest.approx(0.0)


def test_a_clock_that_steps_back_refills_nothing() -> None:
    empty = ConnectionState("alice", 0.0, 100.0)
    with pytest.raises(TooManyRequests):
        spend(empty, 60, now=0.0)
