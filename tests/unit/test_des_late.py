"""Late binding in bench/policy.py's simulation (bench/_des_late.py): a request whose host is
busy waits in one shared queue and goes to the first host whose worker frees."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from sollol.router import Router
from tests.unit.des_fleet import job as _job
from tests.unit.des_fleet import two_hosts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _des import Job, Simulation
from _des_late import LateBinding, split_late


def _run(sim_class: type[Simulation], jobs: list[Job]) -> Simulation:
    router = Router("round_robin", rng=random.Random(1))
    sim = sim_class(two_hosts(), router, cache_s=0, heartbeat_s=0)
    sim.run(jobs)
    return sim


def _trace() -> list[Job]:
    """Two answers start at 0 s, a long one (100 s) on one host and a short one (5 s) on the
    other; two more requests arrive at 1 s, while both hosts are busy."""
    return [_job(0, 0.0, 1000), _job(1, 0.0, 50), _job(2, 1.0, 10), _job(3, 1.1, 10)]


def test_binding_on_arrival_leaves_a_request_behind_the_long_answer() -> None:
    jobs = _trace()
    _run(Simulation, jobs)
    long_one, _, third, fourth = jobs
    behind = [j for j in (third, fourth) if j.host == long_one.host]
    assert behind and behind[0].start == long_one.done  # round robin bound it there on arrival


def test_late_binding_serves_both_from_the_host_that_frees() -> None:
    jobs = _trace()
    sim = _run(LateBinding, jobs)
    long_one, short_one, third, fourth = jobs
    assert sim.held == 2
    assert third.host == fourth.host == short_one.host
    assert third.start == short_one.done  # first come, first served from the shared queue
    assert fourth.start == third.done
    assert fourth.done < long_one.done


def test_the_shared_queue_serves_higher_priorities_first() -> None:
    jobs = [_job(0, 0.0, 1000), _job(1, 0.0, 50), _job(2, 1.0, 10, 2), _job(3, 1.1, 10, 9)]
    _run(LateBinding, jobs)
    _, short_one, low, high = jobs
    assert high.start == short_one.done
    assert low.start == high.done


def test_strategy_names() -> None:
    assert split_late("least_connections+late") == ("least_connections", True)
    assert split_late("performance") == ("performance", False)
