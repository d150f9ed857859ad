"""The gateway's gunicorn worker class: gevent by default (a greenlet per open request), gthread
on request, and nothing else."""

import pytest

from sollol.config import ConfigError, load_config
from sollol.launcher import gunicorn_argv


def _opt(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_gevent_by_default_with_its_connection_limit():
    argv = gunicorn_argv(load_config(env={}, gateway_connections=300))
    assert _opt(argv, "--worker-class") == "gevent"
    assert _opt(argv, "--worker-connections") == "300"
    assert "--threads" not in argv


def test_gthread_from_the_environment_uses_the_thread_count():
    cfg = load_config(
        env={"SOLLOL_GATEWAY_WORKER_CLASS": "gthread", "SOLLOL_GATEWAY_THREADS": "16"}
    )
    argv = gunicorn_argv(cfg)
    assert _opt(argv, "--worker-class") == "gthread"
    assert _opt(argv, "--threads") == "16"
    assert "--worker-connections" not in argv


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"gateway_worker_class": "eventlet"},
            "gateway_worker_class must be one of gevent, gthread",
        ),
        ({"gateway_connections": 0}, "gateway_connections and gateway_threads must be >= 1"),
        ({"gateway_threads": 0}, "gateway_connections and gateway_threads must be >= 1"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(settings, message):
    with pytest.raises(ConfigError, match=message):
        load_config(env={}, **settings)


def test_gevent_is_importable_where_the_gateway_runs():
    import gevent  # noqa: F401  (a dependency: gunicorn's gevent worker needs it)


def test_gunicorns_master_does_not_load_the_app_before_gevent_patches():
    """The master imports the gunicorn config; redis-py imported there would keep unpatched
    ssl references in every gevent worker (gevent's MonkeyPatchWarning in the gateway log)."""
    import subprocess
    import sys

    code = (
        "import sys, sollol.api.gunicorn_conf; print(sorted({'redis', 'flask'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_gateways_redis_pool_has_a_connection_for_every_open_request():
    from sollol.api.app import create_app

    for settings, open_requests in (
        ({}, 1000),
        ({"gateway_worker_class": "gthread", "gateway_threads": 32}, 32),
    ):
        cfg = load_config(env={}, **settings)
        assert cfg.gateway_open_requests == open_requests
        pool = create_app(cfg).extensions["sollol"].redis.connection_pool
        assert pool.max_connections >= open_requests + 64


def test_the_gateway_raises_its_descriptor_limit_to_what_its_open_requests_need():
    """A soft limit of 1024 (many service managers' default) is below what 1000 open requests
    need (a client socket and a Redis connection each); gunicorn's config raises it."""
    import subprocess
    import sys

    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (1024, "
        "resource.getrlimit(resource.RLIMIT_NOFILE)[1]));"
        "import sollol.api.gunicorn_conf as g;"
        "print(*resource.getrlimit(resource.RLIMIT_NOFILE), g.descriptors_needed(1000))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    soft, hard, needed = map(int, out.stdout.split())
    assert needed == 2 * 1000 + 64 + 256
    assert soft == (needed if hard < 0 else min(needed, hard))  # never past the hard limit
