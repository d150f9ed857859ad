"""Batch job storage (sollol/state/batch.py) over fakeredis: docs in chunks, each vector stored and
counted once, states, results in input order, limits, the rounds bookkeeping of autobatch."""

from __future__ import annotations

import json

import fakeredis
import pytest

from sollol.config import load_config
from sollol.state.batch import (
    DOC_CHUNK,
    BatchInputError,
    BatchNotFound,
    BatchQueueFull,
    BatchStore,
    BatchTooLarge,
    Doc,
    parse_doc,
)
from sollol.workers.batch_rounds import Rounds


@pytest.fixture
def redis():
    return fakeredis.FakeRedis(decode_responses=True)


@pytest.fixture
def store(redis):
    return BatchStore(redis, load_config(env={}, batch_max_docs=2000, batch_max_jobs_queued=2))


def _docs(n):
    return [Doc(f"id{i}", f"text {i}") for i in range(n)]


def _vec(i):
    return json.dumps([i, 0.5])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Document 1", Doc("7", "Document 1")),  # a plain string: its position is its id
        ({"id": "a", "text": "t"}, Doc("a", "t")),
        ({"id": 3, "text": "t", "metadata": {"k": 1}}, Doc("3", "t", {"k": 1})),
        ({"text": "t"}, Doc("7", "t")),
    ],
)
def test_parse_doc_accepts_strings_and_objects(raw, expected):
    assert parse_doc(raw, 7) == expected


@pytest.mark.parametrize(
    "raw", [{"id": 1}, 5, {"text": 3}, {"text": "t", "metadata": []}, {"id": True, "text": "t"}]
)
def test_parse_doc_rejects_malformed_docs(raw):
    with pytest.raises(BatchInputError):
        parse_doc(raw, 0)


def test_docs_are_stored_in_chunks_never_one_value(store, redis):
    job = store.create(_docs(1200), "m", 2)["job_id"]
    keys = sorted(redis.keys(f"sollol:batch:docs:{job}:*"))
    assert len(keys) == 3  # 500 + 500 + 200
    assert store.docs(job, 498, 503) == [[f"id{i}", f"text {i}"] for i in range(498, 503)]
    assert all(0 < redis.ttl(k) <= store.ttl for k in keys)


def test_a_vector_written_twice_is_stored_and_counted_once(store):
    job = store.create(_docs(3), "m", 2)["job_id"]
    store.claim(job, 3)
    assert store.put_results(job, [(0, _vec(0)), (1, _vec(1))]) == 2
    assert store.put_results(job, [(1, _vec(99)), (2, _vec(2))]) == 1  # a retried chunk
    status = store.status(job)
    assert (status["state"], status["done"]) == ("done", 3)
    assert [json.loads(line) for line in store.results(job)] == [
        {"id": "id0", "embedding": [0, 0.5]},
        {"id": "id1", "embedding": [1, 0.5]},  # the first vector stays
        {"id": "id2", "embedding": [2, 0.5]},
    ]


def test_job_states_from_queued_to_done_with_per_doc_errors(store):
    job = store.create(_docs(2), "m", 2)["job_id"]
    assert store.status(job)["state"] == "queued"
    assert store.claim(job, 10) == (0, 2)
    assert store.status(job)["state"] == "running"
    store.put_results(job, [(0, _vec(0))])
    store.put_errors(job, [(1, "id1", "input too long")])
    status = store.status(job)
    assert (status["state"], status["done"], status["failed"]) == ("done", 1, 1)
    assert status["errors"] == [{"index": 1, "id": "id1", "error": "input too long"}]
    assert list(store.results(job))[1] == '{"id":"id1","error":"input too long"}'


def test_a_job_whose_every_doc_failed_is_failed(store):
    job = store.create(_docs(1), "m", 2)["job_id"]
    store.claim(job, 1)
    store.put_errors(job, [(0, "id0", "boom")])
    assert store.status(job)["state"] == "failed"


def test_results_page_in_input_order_and_leave_out_pending_docs(store):
    job = store.create(_docs(DOC_CHUNK + 10), "m", 2)["job_id"]
    store.claim(job, DOC_CHUNK + 10)
    store.put_results(job, [(i, _vec(i)) for i in range(DOC_CHUNK + 10) if i != DOC_CHUNK + 1])
    page = [json.loads(x)["id"] for x in store.results(job, DOC_CHUNK - 1, 4)]
    assert page == [f"id{DOC_CHUNK - 1}", f"id{DOC_CHUNK}", f"id{DOC_CHUNK + 2}"]


def test_claims_advance_a_cursor_and_lost_ranges_come_first(store):
    job = store.create(_docs(10), "m", 2)["job_id"]
    assert store.claim(job, 4) == (0, 4)
    assert store.claim(job, 4) == (4, 8)
    store.redo(job, 0, 4)
    assert store.claim(job, 4) == (0, 4)
    assert store.claim(job, 4) == (8, 10)
    assert store.claim(job, 4) == (10, 10)


def test_cancel_stops_claims_and_keeps_what_is_done(store):
    job = store.create(_docs(10), "m", 2)["job_id"]
    store.claim(job, 2)
    store.put_results(job, [(0, _vec(0))])
    assert store.cancel(job)["state"] == "cancelled"
    assert store.claim(job, 4) == (0, 0)
    assert store.put_results(job, [(1, _vec(1))]) == 1  # a chunk already running may finish
    assert store.status(job)["state"] == "cancelled"


def test_limits(store):
    with pytest.raises(BatchTooLarge, match="at most 2000 docs"):
        store.create(_docs(2001), "m", 2)
    assert store.job_ids() == []  # nothing of the refused upload is left
    with pytest.raises(BatchInputError):
        store.create([], "m", 2)
    store.create(_docs(1), "m", 2)
    store.create(_docs(1), "m", 2)
    with pytest.raises(BatchQueueFull):
        store.create(_docs(1), "m", 2)


def test_unknown_job(store):
    with pytest.raises(BatchNotFound):
        store.status("nope")


def test_a_round_ends_when_answered_and_a_lost_one_is_scheduled_again(store, redis):
    rounds = Rounds(redis, store.cfg)
    job = store.create(_docs(10), "m", 2)["job_id"]
    store.claim(job, 10)
    rounds.add("r1", job, [("a", 0, 5)], expected_s=1.0)
    rounds.add("r2", job, [("b", 5, 10)], expected_s=1.0)
    store.put_results(job, [(i, _vec(i)) for i in range(5)])
    assert rounds.sweep(store) == 1 and set(rounds.all()) == {"r2"}  # r1 answered
    late = rounds.all()["r2"]["deadline"] + 1
    assert rounds.sweep(store, now=late) == 1 and rounds.count() == 0
    assert store.claim(job, 5) == (5, 10)  # r2's range again


def test_one_tick_at_a_time(redis):
    cfg = load_config(env={})
    first, second = Rounds(redis, cfg), Rounds(redis, cfg)
    assert first.lock() and not second.lock()
    first.unlock()
    assert second.lock()


def test_docs_whose_round_record_was_lost_are_found_and_scheduled_again(store, redis):
    rounds = Rounds(redis, store.cfg)
    job = store.create(_docs(250), "m", 2)["job_id"]
    store.claim(job, 250)  # every doc claimed, but no round remembers them (Redis lost it)
    store.put_results(job, [(i, _vec(i)) for i in range(250) if i != 120])
    assert rounds.repair(store) == 1
    assert rounds.repair(store) == 0  # scheduled once: the next tick does not add it again
    assert store.claim(job, 10) == (100, 200)  # the span holding doc 120


def test_a_host_works_on_one_chunk_at_a_time_until_it_ends_or_its_deadline(redis):
    rounds = Rounds(redis, load_config(env={}))
    rounds.occupy("a", "r1-0", until=100.0)
    rounds.occupy("b", "r1-1", until=100.0)
    assert rounds.busy_hosts(now=50.0) == {"a", "b"}
    rounds.free("a", "r0-0")  # an older chunk ending does not free the host
    rounds.free("b", "r1-1")
    assert rounds.busy_hosts(now=50.0) == {"a"}
    assert rounds.busy_hosts(now=101.0) == set()  # its chunk was lost: the host is free again


def test_a_tick_that_finds_the_lock_taken_makes_the_holder_plan_again(redis):
    cfg = load_config(env={})
    holder, late = Rounds(redis, cfg), Rounds(redis, cfg)
    assert holder.lock()
    assert not holder.again()
    assert not late.lock()
    assert holder.again() and not holder.again()  # once


def test_a_job_below_the_minimum_batch_waits_one_interval(redis):
    cfg = load_config(env={}, autobatch_min_batch_size=10, autobatch_interval_s=5.0)
    store, rounds = BatchStore(redis, cfg), Rounds(redis, cfg)
    small = store.create(_docs(3), "m", 2)
    big = store.create(_docs(10), "m", 2)
    now = small["created_at"]
    assert rounds.runnable(store, now=now + 1) == [big["job_id"]]
    assert rounds.runnable(store, now=now + 6) == [small["job_id"], big["job_id"]]  # oldest first
