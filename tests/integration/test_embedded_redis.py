"""The embedded Redis is a real server that starts anywhere and never outlives SOLLOL."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import redis

from sollol.embedded_redis import EmbeddedRedis, SentinelGroup, find_redis_server
from tests.sim.conftest import wait_for

pytestmark = pytest.mark.integration


def test_starts_a_real_server_that_answers_and_stops_it():
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        assert client.config_get("save")["save"] == ""  # no persistence
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        pid = server.pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_binary_is_found():
    assert os.access(find_redis_server(), os.X_OK)


def test_kill_and_restart_on_the_same_port():
    with EmbeddedRedis() as server:
        port = server.port
        server.kill()
        assert not server.ping()
        server.start()
        assert server.port == port and server.ping()


@pytest.mark.parametrize("how", ["exit", "sigterm", "sigkill"])
def test_no_redis_server_is_left_behind_when_the_owner_goes(how):
    """Normal exit, Ctrl-C-like SIGTERM, or even SIGKILL of the owner: the server goes too."""
    script = textwrap.dedent("""
        import sys, time
        from sollol.embedded_redis import EmbeddedRedis
        server = EmbeddedRedis().start()
        print(server.pid, flush=True)
        if sys.argv[1] == "exit":
            sys.exit(0)
        time.sleep(60)
    """)
    with subprocess.Popen(
        [sys.executable, "-c", script, how], stdout=subprocess.PIPE, text=True
    ) as owner:
        redis_pid = int(owner.stdout.readline())
        assert psutil.pid_exists(redis_pid)
        if how == "sigterm":
            owner.send_signal(signal.SIGTERM)
        elif how == "sigkill":
            owner.send_signal(signal.SIGKILL)
        owner.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (
            not psutil.pid_exists(redis_pid)
            or psutil.Process(redis_pid).status() == psutil.STATUS_ZOMBIE
        ):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"redis-server {redis_pid} outlived its owner ({how})")


def test_a_server_started_from_a_short_lived_thread_survives_that_thread():
    """PDEATHSIG is per thread: SOLLOL forks from one long-lived thread, so a restart done by a
    helper thread (a supervisor, a fault injector) does not die when that thread ends."""
    import threading

    server = EmbeddedRedis()
    worker = threading.Thread(target=server.start)
    worker.start()
    worker.join()
    try:
        time.sleep(0.5)
        assert server.ping()
    finally:
        server.close()


def test_a_replica_follows_its_primary():
    with EmbeddedRedis() as primary, EmbeddedRedis(replica_of=(primary.host, primary.port)) as rep:
        redis.Redis.from_url(primary.url).set("k", "v")
        replica = redis.Redis.from_url(rep.url)
        wait_for(lambda: replica.get("k") == b"v", 10, "the write to reach the replica")
        assert replica.info("replication")["role"] == "slave"


def test_sentinels_promote_the_replica_when_the_primary_is_killed():
    with SentinelGroup(replicas=1, sentinels=3, down_after_ms=500, failover_timeout_ms=1000) as g:
        old = g.primary()
        assert old is g.servers[0] and g.synced_replicas() == 1  # the one sentinels were told of
        assert g.url.count("sentinel://") == 3
        old.kill()
        wait_for(lambda: g.primary() not in (None, old), 30, "a new primary")
        new = g.primary()
        assert new is not None and new.ping()
        assert redis.Redis(new.host, new.port).info("replication")["role"] == "master"
