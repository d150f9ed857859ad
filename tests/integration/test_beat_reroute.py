"""Beat moves messages off dead hosts with the routing strategy the gateways use: the configured
one, or the one an operator set while SOLLOL runs (``update_config``), never a hard-coded one."""

from __future__ import annotations

import pytest

from sollol.config import load_config
from sollol.router import STRATEGIES
from sollol.state.overrides import write_overrides
from sollol.workers.beat import reroute_router

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_beat_reroutes_with_the_configured_strategy(redis_server, redis_client, strategy):
    cfg = load_config(env={}, redis_url=redis_server.url, strategy=strategy)
    assert reroute_router(redis_client, cfg).strategy == strategy


def test_beat_reroutes_with_a_strategy_changed_while_running(redis_server, redis_client):
    cfg = load_config(env={}, redis_url=redis_server.url, strategy="performance")
    changed = next(s for s in STRATEGIES if s != "performance")
    write_overrides(redis_client, cfg, {"strategy": changed})
    assert reroute_router(redis_client, cfg).strategy == changed
