"""The clairvoyant yardstick of bench/policy.py (bench/_des_oracle.py): it sees true output
lengths, so it sends a request where the work ahead of it ends first."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.unit.des_fleet import job as _job
from tests.unit.des_fleet import two_hosts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _des import Job, Simulation
from _des_oracle import Oracle


def _long_short_third(strategy: str) -> tuple[Job, Job, Job]:
    """a: 1000 tokens (100 s), b: 50 tokens (5 s), both at 0 s; the third arrives at 1 s."""
    jobs = [_job(0, 0.0, 1000), _job(1, 0.0, 50), _job(2, 1.0, 10)]
    oracle = Oracle(jobs, strategy)
    sim = Simulation(two_hosts(), oracle, cache_s=0, heartbeat_s=0)  # type: ignore[arg-type]
    oracle.sim = sim
    sim.run(jobs)
    long_one, short_one, third = jobs
    assert long_one.host != short_one.host
    return long_one, short_one, third


def test_the_oracle_queues_behind_the_request_that_ends_first() -> None:
    _, short_one, third = _long_short_third("oracle")
    assert third.host == short_one.host
    assert third.start == short_one.done  # it waited only for the short answer


def test_the_blind_oracle_does_not_see_answer_lengths() -> None:
    # at 1 s both answers have produced 10 tokens, so to the blind oracle the two hosts look
    # alike and the third request may queue behind the long answer
    long_one, _, third = _long_short_third("oracle_blind")
    assert third.host == long_one.host  # a tie, broken by host order: no foresight
    assert third.start == long_one.done


def test_expected_output_beyond_what_an_answer_has_produced() -> None:
    from _des_oracle import _Lengths

    kind = _Lengths([10, 20, 30, 1000])
    assert kind.mean == 265
    assert kind.beyond(0) == 265
    assert kind.beyond(25) == (30 + 1000) / 2 - 25  # only answers longer than 25 count
    assert kind.beyond(5000) == 1.0  # longer than any seen: one more token
