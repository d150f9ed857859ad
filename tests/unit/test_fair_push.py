"""Round-robin insertion into a priority list (sollol.state.fairness), on fakeredis's Lua."""

from __future__ import annotations

import json
import random

import fakeredis
import pytest

from sollol.state.fairness import FairPusher

LIST = "host-a\x06\x165"


def _msg(tenant: str, n: int) -> str:
    # the shape kombu stores: the body first, the headers (with the tenant) after it
    return json.dumps({"body": "eyJ4IjogMX0=" * 20, "headers": {"sollol_tenant": tenant, "n": n}})


def _served(redis) -> list[str]:
    """The list in the order workers BRPOP it (right end first)."""
    out = []
    while (raw := redis.rpop(LIST)) is not None:
        h = json.loads(raw)["headers"]
        out.append(f"{h['sollol_tenant']}{h['n']}")
    return out


@pytest.fixture
def redis():
    return fakeredis.FakeRedis(decode_responses=True)


def test_a_light_tenant_goes_ahead_of_a_flooding_ones_backlog(redis):
    fair = FairPusher(redis)
    for i in range(50):
        fair.push(LIST, _msg("A", i), "A")
    ahead = fair.push(LIST, _msg("B", 0), "B")
    assert ahead == 0  # first in round 1, not behind A's 50
    assert _served(redis)[:3] == ["B0", "A0", "A1"]


def test_two_backlogs_are_served_in_alternation_in_arrival_order_per_tenant(redis):
    fair = FairPusher(redis)
    for i in range(10):
        fair.push(LIST, _msg("A", i), "A")
    for i in range(3):
        fair.push(LIST, _msg("B", i), "B")
    # round by round, the less backlogged tenant first in each round
    assert _served(redis) == ["B0", "A0", "B1", "A1", "B2", "A2", *[f"A{i}" for i in range(3, 10)]]


def test_one_tenant_alone_is_fifo(redis):
    fair = FairPusher(redis)
    for i in range(30):
        fair.push(LIST, _msg("A", i), "A")
    assert _served(redis) == [f"A{i}" for i in range(30)]


def test_random_arrivals_keep_every_round_complete_before_the_next(redis):
    """Whatever the arrival order, among queued requests no tenant gets a second turn before
    every waiting tenant had its first (rounds are served in order), and each tenant's own
    requests stay in arrival order."""
    rng = random.Random(7)
    fair = FairPusher(redis)
    counts: dict[str, int] = {}
    for _ in range(120):
        t = rng.choice("AAAAAAABBC")
        counts[t] = counts.get(t, 0) + 1
        fair.push(LIST, _msg(t, counts[t] - 1), t)
    served = _served(redis)
    seen: dict[str, int] = {}
    rounds = []
    for s in served:
        t, n = s[0], int(s[1:])
        assert n == seen.get(t, 0)  # arrival order within a tenant
        seen[t] = n + 1
        rounds.append(n)
    assert rounds == sorted(rounds)


def test_past_the_scan_limit_a_request_goes_to_the_back(redis):
    fair = FairPusher(redis, scan_limit=8)
    for i in range(20):
        fair.push(LIST, _msg("A", i), "A")
    fair.push(LIST, _msg("A", 20), "A")
    assert _served(redis)[-1] == "A20"


def test_messages_without_a_tenant_count_as_one_tenant(redis):
    fair = FairPusher(redis)
    for i in range(5):
        redis.lpush(LIST, json.dumps({"body": "", "headers": {"n": i}}))
    fair.push(LIST, _msg("B", 0), "B")
    assert redis.lindex(LIST, -1) == _msg("B", 0)


def test_with_workers_popping_meanwhile_each_tenant_stays_in_arrival_order(redis):
    """Pushes and pops interleaved at random: no request is lost or duplicated, each tenant's
    requests are served in the order they came, and a tenant arriving to a backlog of others
    is served before any of them gets a second turn."""
    rng = random.Random(11)
    fair = FairPusher(redis)
    counts: dict[str, int] = {}
    served: list[str] = []
    for _ in range(400):
        if rng.random() < 0.45:
            raw = redis.rpop(LIST)
            if raw is not None:
                h = json.loads(raw)["headers"]
                served.append(f"{h['sollol_tenant']}{h['n']}")
            continue
        t = rng.choice("AAAAAAAABC")
        counts[t] = counts.get(t, 0) + 1
        fair.push(LIST, _msg(t, counts[t] - 1), t)
    served += _served(redis)
    assert sorted(served) == sorted(f"{t}{i}" for t, n in counts.items() for i in range(n))
    for t in counts:
        mine = [int(s[1:]) for s in served if s[0] == t]
        assert mine == sorted(mine)


HOST = "sollol:host:host-a"


def test_the_hosts_slots_are_the_quantum_a_light_tenant_fills_them_before_the_flood(redis):
    """A host of 2 slots starts 2 requests at once: a light tenant's 2 waiting requests both go
    ahead of the flooding tenant's backlog (with a quantum of 1 the second went behind A0), and
    only its third waits for a turn of the flood."""
    redis.hset(HOST, mapping={"name": '"host-a"', "slots": 2})
    fair = FairPusher(redis)
    for i in range(20):
        fair.push(LIST, _msg("A", i), "A", HOST)
    assert fair.push(LIST, _msg("B", 0), "B", HOST) == 0
    assert fair.push(LIST, _msg("B", 1), "B", HOST) == 1  # behind B0 only
    assert fair.push(LIST, _msg("B", 2), "B", HOST) == 4  # round 2: behind A0 and A1
    assert _served(redis)[:6] == ["B0", "B1", "A0", "A1", "B2", "A2"]


def test_without_a_slots_field_the_quantum_is_one(redis):
    fair = FairPusher(redis)
    for i in range(5):
        fair.push(LIST, _msg("A", i), "A", HOST)  # no such record
    fair.push(LIST, _msg("B", 0), "B", HOST)
    fair.push(LIST, _msg("B", 1), "B", HOST)
    assert _served(redis)[:4] == ["B0", "A0", "B1", "A1"]


def test_a_tenant_never_goes_ahead_of_its_own_earlier_request(redis):
    """B0 waits behind C0 (C arrived later and went first in round 1); B1, also of round 1 with
    a quantum of 2, must still go behind B0."""
    redis.hset(HOST, "slots", 2)
    fair = FairPusher(redis)
    fair.push(LIST, _msg("B", 0), "B", HOST)
    fair.push(LIST, _msg("C", 0), "C", HOST)
    fair.push(LIST, _msg("B", 1), "B", HOST)
    served = _served(redis)
    assert served.index("B0") < served.index("B1")


@pytest.mark.parametrize("slots", [2, 3, 4])
def test_random_arrivals_with_a_quantum_keep_rounds_in_order(redis, slots):
    """Whatever the arrival order, each tenant's requests stay in arrival order and, among
    queued requests, round r (each tenant's requests r·q - q + 1 … r·q) is served before r + 1."""
    redis.hset(HOST, "slots", slots)
    rng = random.Random(slots)
    fair = FairPusher(redis)
    counts: dict[str, int] = {}
    for _ in range(150):
        t = rng.choice("AAAAAAABBC")
        counts[t] = counts.get(t, 0) + 1
        fair.push(LIST, _msg(t, counts[t] - 1), t, HOST)
    served = _served(redis)
    for t, n in counts.items():
        assert [int(s[1:]) for s in served if s[0] == t] == list(range(n))
    rounds = [int(s[1:]) // slots for s in served]
    assert rounds == sorted(rounds)
