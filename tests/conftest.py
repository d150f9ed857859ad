"""Shared test infrastructure: a real embedded Redis per session, flushed for each test that uses it.

Tests that need Redis FAIL (not skip) when none can be started in CI (``CI=true``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from sollol.embedded_redis import EmbeddedRedis, RedisNotFound

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session", autouse=True)
def temp_files_under_pytest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What the suite's processes put in the temp directory (``sollol up`` keeps its logs there
    on purpose, for its users) goes under pytest's own temp tree, which pytest prunes to the
    last three runs, instead of piling up in the system's."""
    root = str(tmp_path_factory.mktemp("tmp", numbered=False))
    saved_env, saved_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = root, root
    yield
    tempfile.tempdir = saved_dir
    if saved_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved_env


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One real redis-server for the whole session, stopped at the end."""
    try:
        server = EmbeddedRedis().start()
    except (RedisNotFound, RuntimeError) as exc:
        if IN_CI:
            pytest.fail(f"CI needs a Redis server and none could be started: {exc}")
        pytest.skip(f"no Redis available: {exc}")
    yield server
    server.close()


@pytest.fixture
def redis_client(redis_server: EmbeddedRedis) -> Iterator[object]:
    """A client on a freshly flushed database, made as SOLLOL makes its own (decoded replies)."""
    from sollol.config import load_config
    from sollol.state.connection import connect

    client = connect(load_config(env={}, redis_url=redis_server.url))
    client.flushall()
    yield client
    client.close()
