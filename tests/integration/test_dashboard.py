"""The live dashboard renders the fleet in a real browser (headless Chromium): hosts with their
state, queues and learned speeds, recent decisions with their reasoning."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import httpx
import pytest

from tests.conftest import IN_CI
from tests.helpers import wait_for
from tests.integration.conftest import CHAT, make_profile

pytestmark = pytest.mark.integration


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if IN_CI and os.environ.get("SOLLOL_TEST_BROWSER") != "optional":
        pytest.fail("CI needs Chromium for the dashboard test (.ci/run installs it with apt-get)")
    pytest.skip("no Chromium on this machine (apt-get install chromium)")


@pytest.fixture(scope="module")
def live(live_factory):
    return live_factory(
        make_profile(
            [
                {"name": "alpha", "models": {"llama3.2": CHAT}, "loaded": ["llama3.2"]},
                {"name": "beta", "models": {"llama3.2": CHAT}, "loaded": []},
            ]
        )
    )


def _render(url: str) -> str:
    with tempfile.TemporaryDirectory() as profile_dir:
        out = subprocess.run(
            [
                _chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile_dir}",
                "--virtual-time-budget=5000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "HOME": profile_dir},
        )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_dashboard_shows_hosts_decisions_and_learned_speeds(live):
    r = httpx.post(
        live.url + "/api/generate",
        timeout=30,
        json={
            "model": "llama3.2",
            "prompt": "for the dashboard",
            "stream": False,
            "options": {"num_predict": 20},
        },
    )
    host = r.json()["_sollol_routing"]["host"]
    dom = _render(live.url + "/dashboard")
    assert 'data-host="alpha"' in dom and 'data-host="beta"' in dom
    assert "2/2 hosts healthy" in dom
    assert "llama3.2:latest" in dom
    assert "tok/s" in dom  # the host that answered has a learned generation speed
    assert f"<td>{host}</td>" in dom  # the decision is listed with its host
    assert 'id="error"></span>' in dom  # no fetch error shown


def _health(live, host):
    return next(h["health"] for h in live.get("/api/fleet")["hosts"] if h["name"] == host)


def test_dashboard_shows_charts_endpoints_and_a_host_going_down_and_coming_back(live):
    r = httpx.post(
        live.url + "/api/chat",
        timeout=30,
        json={
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "chart me"}],
            "stream": False,
            "options": {"num_predict": 5},
        },
    )
    assert r.status_code == 200
    dom = _render(live.url + "/dashboard")
    assert '<td class="endpoint">chat</td>' in dom  # the decision list names the endpoint
    assert 'id="latency-chart"' in dom and 'data-series="p50"' in dom
    assert 'data-series="alpha"' in dom and 'data-series="beta"' in dom  # throughput by host
    assert 'id="autobatch"' in dom and "Batch embedding jobs" in dom

    live.fault("beta", "down")
    try:
        wait_for(lambda: _health(live, "beta") == "down", timeout=30, what="beta down")
        # the alert comes from beat's next health round, which may trail the fleet view
        alert = '→ <span class="state down">down</span>'
        dom = wait_for(
            lambda: next((d for d in [_render(live.url + "/dashboard")] if alert in d), ""),
            timeout=30,
            what="the page showing beta's down alert",
            interval=0.5,
        )
        assert "1/2 hosts healthy" in dom
        assert 'class="state down">down' in dom  # beta's row
        assert '→ <span class="state down">down</span>' in dom  # and the alert
    finally:
        live.fault("beta", "none")
    wait_for(lambda: _health(live, "beta") == "healthy", timeout=30, what="beta back")
    dom = _render(live.url + "/dashboard")
    assert "2/2 hosts healthy" in dom
    assert '→ <span class="state healthy">healthy</span>' in dom  # the recovery is an alert too
