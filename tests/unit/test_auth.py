"""API keys: with keys on, nobody without one gets an answer or a look at the fleet; each key's
limits hold across gateway replicas (two apps sharing one Redis). Redis here is fakeredis, which
runs the same Lua as a real server; nothing is dispatched (requests stop at the door or at
validation), so no worker is needed."""

from __future__ import annotations

import json
import time

import fakeredis
import pytest
from celery import Celery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sollol.api import create_app
from sollol.config import load_config
from sollol.state.keys import ApiKey, KeyProblem, KeyStore, auth_required, digest_of, load_keys_file
from sollol.state.limits import Limiter
from tests.helpers import wait_for

# one path per endpoint family, with the protocol its errors speak
FAMILIES = [
    ("POST", "/api/chat", "ollama"),
    ("POST", "/api/generate", "ollama"),
    ("POST", "/api/embed", "ollama"),
    ("GET", "/api/tags", "ollama"),
    ("GET", "/api/ps", "ollama"),
    ("POST", "/api/show", "ollama"),
    ("GET", "/api/version", "ollama"),
    ("POST", "/v1/chat/completions", "openai"),
    ("POST", "/v1/embeddings", "openai"),
    ("GET", "/v1/models", "openai"),
    ("POST", "/v1/messages", "anthropic"),
    ("GET", "/api/fleet", "ollama"),
    ("GET", "/api/decisions", "ollama"),
    ("GET", "/api/stats", "ollama"),
    ("GET", "/api/dashboard", "ollama"),
    ("GET", "/dashboard", "ollama"),
    ("GET", "/metrics", "ollama"),
    ("POST", "/api/pull", "ollama"),
    ("POST", "/api/embed/batch", "ollama"),
    ("GET", "/api/batch-status", "ollama"),
]
ADMIN_ONLY = ["/api/fleet", "/api/decisions", "/api/stats", "/api/dashboard", "/metrics"]


@pytest.fixture
def redis():
    return fakeredis.FakeRedis(decode_responses=True)


def _app(redis, **settings_):
    cfg = load_config(env={}, auth="on", **settings_)
    app = create_app(cfg, celery=Celery("t", broker="memory://", set_as_current=False), redis=redis)
    app.testing = True
    return app, cfg


@pytest.fixture
def gateway(redis):
    app, cfg = _app(redis)
    return app.test_client(), KeyStore(redis, cfg)


def _shape_ok(resp, protocol: str) -> bool:
    body = resp.get_json()
    if protocol == "anthropic":
        return body["type"] == "error" and body["error"]["type"] == "authentication_error"
    if protocol == "openai":
        return isinstance(body["error"]["message"], str)
    return isinstance(body["error"], str)


@pytest.mark.parametrize(("method", "path", "protocol"), FAMILIES)
def test_no_key_is_401_in_the_protocols_shape(gateway, method, path, protocol):
    client, _ = gateway
    resp = client.open(path, method=method, json={"model": "llama3.2"})
    assert resp.status_code == 401, (path, resp.data)
    assert _shape_ok(resp, protocol), resp.data
    assert "missing API key" in resp.data.decode()


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "sk-sollol-nothing"},
        {"Authorization": "Bearer sk-sollol-wrong"},
        {"x-api-key": "wrong"},
        {"Authorization": "Bearer \x00"},
    ],
)
@pytest.mark.parametrize(("method", "path", "protocol"), FAMILIES[::3])
def test_malformed_or_wrong_keys_are_401(gateway, header, method, path, protocol):
    client, store = gateway
    store.create("alice")
    resp = client.open(path, method=method, json={"model": "llama3.2"}, headers=header)
    assert resp.status_code == 401, (header, path, resp.data)


def test_a_valid_key_passes_as_bearer_or_x_api_key(gateway):
    client, store = gateway
    secret, _ = store.create("alice")
    for headers in ({"Authorization": f"Bearer {secret}"}, {"x-api-key": secret}):
        assert client.get("/api/tags", headers=headers).status_code == 200


def test_revoked_key_stops_working(gateway):
    client, store = gateway
    secret, _ = store.create("alice")
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/tags", headers=auth).status_code == 200
    store.revoke("alice")
    # gateways trust a lookup for at most CACHE_S (1 s)
    wait_for(lambda: client.get("/api/tags", headers=auth).status_code == 401, 5, "revocation")


def test_expired_key_is_401_expired(gateway):
    client, store = gateway
    secret, _ = store.create("bob", expires_at=time.time() - 1)
    resp = client.get("/api/tags", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 401
    assert "expired" in resp.get_json()["error"]


@pytest.mark.parametrize("path", ADMIN_ONLY)
def test_fleet_views_need_an_admin_key(gateway, path):
    client, store = gateway
    user, _ = store.create("user")
    admin, _ = store.create("ops", admin=True)
    assert client.get(path, headers={"Authorization": f"Bearer {user}"}).status_code == 403
    assert client.get(path, headers={"Authorization": f"Bearer {admin}"}).status_code == 200


def test_metrics_token_reads_metrics_only(redis):
    app, _ = _app(redis, metrics_token="scrape-me")
    client = app.test_client()
    auth = {"Authorization": "Bearer scrape-me"}
    assert client.get("/metrics", headers=auth).status_code == 200
    assert client.get("/api/tags", headers=auth).status_code == 401


def test_model_not_allowed_is_403(gateway):
    client, store = gateway
    secret, _ = store.create("alice", models=["llama3.2"])
    auth = {"Authorization": f"Bearer {secret}"}
    resp = client.post("/api/chat", json={"model": "qwen2.5:7b", "messages": []}, headers=auth)
    assert resp.status_code == 403
    assert "may not use model 'qwen2.5:7b'" in resp.get_json()["error"]
    resp = client.post("/v1/chat/completions", json={"model": "qwen2.5:7b"}, headers=auth)
    assert resp.status_code == 403
    assert resp.get_json()["error"]["type"] == "permission_error"


def test_allowed_model_list_accepts_the_latest_tag():
    key = ApiKey(name="a", digest="0" * 64, models=("llama3.2",))
    assert key.allows_model("llama3.2")
    assert key.allows_model("llama3.2:latest")
    assert not key.allows_model("llama3.2:70b")


def test_dashboard_accepts_a_key_once_in_the_address_then_a_cookie(gateway):
    client, store = gateway
    admin, _ = store.create("ops", admin=True)
    resp = client.get(f"/dashboard?api_key={admin}")
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith("/dashboard")
    assert "HttpOnly" in resp.headers["Set-Cookie"]
    assert client.get("/dashboard").status_code == 200  # the cookie carries it now


def test_public_paths_stay_open(gateway):
    client, _ = gateway
    assert client.get("/").status_code == 200


def test_health_tells_a_probe_up_or_down_and_only_an_admin_the_counts(gateway):
    client, store = gateway
    admin, _ = store.create("ops", admin=True)
    public = client.get("/api/health").get_json()
    assert set(public) == {"status"}
    full = client.get("/api/health", headers={"x-api-key": admin}).get_json()
    assert len(full) > 1


# --- limits ---------------------------------------------------------------------------------


def test_rpm_limit_holds_across_two_gateway_replicas(redis):
    one, _ = _app(redis)
    two, cfg = _app(redis)
    secret, _ = KeyStore(redis, cfg).create("alice", rpm=3)
    auth = {"Authorization": f"Bearer {secret}"}
    clients = [one.test_client(), two.test_client()]
    # invalid bodies: admitted (counted), then refused by validation, never dispatched
    codes = [clients[i % 2].post("/api/chat", json={}, headers=auth).status_code for i in range(4)]
    assert codes[:3] == [400, 400, 400]
    assert codes[3] == 429
    resp = clients[0].post("/api/chat", json={}, headers=auth)
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert "3 requests per minute" in resp.get_json()["error"]


def test_concurrency_limit_counts_requests_in_flight(redis):
    cfg = load_config(env={})
    limiter = Limiter(redis, cfg)
    key = ApiKey(name="c", digest="0" * 64, concurrency=2)
    assert limiter.admit(key, "r1").admitted
    assert limiter.admit(key, "r2").admitted
    refused = limiter.admit(key, "r3")
    assert (refused.admitted, refused.limit) == (False, "concurrency")
    limiter.finish(key, "r1", tokens=0)
    assert limiter.admit(key, "r3").admitted


def test_concurrency_lease_is_released_when_the_response_closes(redis):
    app, cfg = _app(redis)
    secret, _ = KeyStore(redis, cfg).create("solo", concurrency=1)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    held = client.post("/api/chat", json={}, headers=auth)  # open until the server closes it
    assert held.status_code == 400
    assert client.post("/api/chat", json={}, headers=auth).status_code == 429
    held.close()  # what the WSGI server does once the body is sent
    for _ in range(3):  # one at a time: each released before the next
        with client.post("/api/chat", json={}, headers=auth) as resp:
            assert resp.status_code == 400


def test_tpm_is_charged_what_the_answer_counted(redis):
    cfg = load_config(env={})
    limiter = Limiter(redis, cfg)
    key = ApiKey(name="t", digest="0" * 64, tpm=600)
    assert limiter.admit(key, "r1").admitted
    limiter.finish(key, "r1", tokens=900)  # 300 over: refills at 10 tokens/s
    refused = limiter.admit(key, "r2")
    assert (refused.admitted, refused.limit) == (False, "tpm")
    assert 25 <= refused.retry_after_s <= 35


def test_unlimited_keys_touch_no_limit_state(redis):
    limiter = Limiter(redis, load_config(env={}))
    key = ApiKey(name="free", digest="0" * 64)
    assert limiter.admit(key, "r").admitted
    assert not [k for k in redis.keys("*") if ":limit:" in k]


def test_max_priority_caps_what_a_key_asks_for(redis):
    app, cfg = _app(redis)
    secret, _ = KeyStore(redis, cfg).create("batchy", max_priority=3)
    client = app.test_client()
    from sollol.api.auth import current_tenant
    from sollol.api.requests_in import priority

    with app.test_request_context(
        "/api/chat?priority=9", method="POST", headers={"Authorization": f"Bearer {secret}"}
    ):
        app.preprocess_request()
        assert priority() == 3
        assert current_tenant().priority_cap == 9  # what was asked, reported
    assert client.get("/").status_code == 200


# --- keys -----------------------------------------------------------------------------------


def test_only_the_digest_is_stored(redis):
    store = KeyStore(redis, load_config(env={}))
    secret, key = store.create("alice")
    dump = json.dumps({k: redis.dump(k).hex() if redis.type(k) else "" for k in redis.keys("*")})
    everything = " ".join(
        str(redis.hgetall(k) if redis.type(k) == "hash" else redis.get(k)) for k in redis.keys("*")
    )
    assert secret not in everything and secret not in dump
    assert key.digest == digest_of(secret)


def test_duplicate_names_are_refused_until_revoked(redis):
    store = KeyStore(redis, load_config(env={}))
    store.create("alice")
    with pytest.raises(KeyProblem):
        store.create("alice")
    store.revoke("alice")
    secret, _ = store.create("alice")
    assert store.lookup(secret) is not None


def test_keys_file_entries_work_like_stored_keys(redis, tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text(
        "keys:\n"
        f"  - {{name: ops, sha256: {digest_of('sk-sollol-ops')}, admin: true}}\n"
        "  - {name: dev, key: sk-sollol-dev, rpm: 5}\n"
    )
    keys = load_keys_file(str(path))
    assert {k.name for k in keys.values()} == {"ops", "dev"}
    app, _ = _app(redis, keys_file=str(path))
    client = app.test_client()
    assert client.get("/api/fleet", headers={"x-api-key": "sk-sollol-ops"}).status_code == 200
    assert client.get("/api/fleet", headers={"x-api-key": "sk-sollol-dev"}).status_code == 403


@pytest.mark.parametrize(
    ("bind", "mode", "required"),
    [
        ("127.0.0.1", "auto", False),  # loopback: off by default
        ("::1", "auto", False),
        ("localhost", "auto", False),
        ("0.0.0.0", "auto", True),  # reachable from the network: on unless disabled
        ("10.1.2.3", "auto", True),
        ("0.0.0.0", "off", False),
        ("127.0.0.1", "on", True),
    ],
)
def test_keys_are_required_off_loopback(bind, mode, required):
    assert auth_required(load_config(env={}, bind=bind, auth=mode)) is required


# --- fuzz -----------------------------------------------------------------------------------

header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["Authorization", "x-api-key", "X-Api-Key", "Cookie", "authorization"]),
    value=header_values,
    path=st.sampled_from([p for _, p, _ in FAMILIES]),
)
def test_fuzzed_auth_headers_never_5xx_never_bypass(gateway, name, value, path):
    client, store = gateway
    if not redis_has_key(store):
        store.create("fuzz-admin", admin=True)
    resp = client.get(path, headers={name: value})
    assert resp.status_code < 500, resp.data
    assert resp.status_code in (401, 403, 405), (name, value, path, resp.status_code)


def redis_has_key(store: KeyStore) -> bool:
    return store.get("fuzz-admin") is not None


# --- Flower ----------------------------------------------------------------------------------


def test_flower_refuses_a_public_address_without_basic_auth():
    from sollol.launcher import flower_command

    with pytest.raises(ValueError, match="SOLLOL_FLOWER_BASIC_AUTH"):
        flower_command(load_config(env={}, bind="0.0.0.0"), 5555)


def test_flower_password_travels_by_environment_not_argv():
    from sollol.launcher import flower_command

    cfg = load_config(env={}, bind="0.0.0.0", flower_basic_auth="ops:s3cret")
    argv, env = flower_command(cfg, 5555)
    assert env == {"FLOWER_BASIC_AUTH": "ops:s3cret"}
    assert not any("s3cret" in a for a in argv)
    assert "--address=0.0.0.0" in argv


def test_flower_on_loopback_may_run_without_a_password():
    from sollol.launcher import flower_command

    argv, env = flower_command(load_config(env={}), 5555)
    assert "--address=127.0.0.1" in argv and env == {}


def test_compose_passes_flower_credentials_and_publishes_only_the_gateway_outside_loopback():
    from pathlib import Path

    import yaml

    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    flower = compose["services"]["flower"]
    assert flower["command"][:2] == ["sollol", "flower"]
    assert "SOLLOL_FLOWER_BASIC_AUTH" in flower["environment"]
    public = {
        name
        for name, svc in compose["services"].items()
        for port in svc.get("ports", [])
        if not str(port).startswith("127.0.0.1:")
    }
    # the gateway, and the demo profile's gateway-in-one (sim) service
    assert public <= {"gateway", "sim"}, public
