"""docker-compose.yml and the Dockerfile, checked without a Docker engine: against the Compose spec's
JSON schema, and every service's command against the real entry points of the package."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"  # the Compose spec's own JSON schema
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SOLLOL_SERVICES = {n: s for n, s in SERVICES.items() if s.get("image", "").startswith("sollol")}


def test_compose_file_is_valid_against_the_compose_spec():
    schema = json.loads(SCHEMA.read_text())  # declares draft-07 (without the trailing '#')
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(COMPOSE)


def test_one_image_for_every_role_differing_only_in_command():
    assert {s["image"] for s in SOLLOL_SERVICES.values()} == {"sollol:latest"}
    assert all("command" in s for s in SOLLOL_SERVICES.values())
    assert {"gateway", "beat", "control", "flower"} <= set(SOLLOL_SERVICES)


def test_redis_healthcheck_gates_every_service_that_needs_it():
    assert SERVICES["redis"]["healthcheck"]["test"][-1] == "ping"
    for name, svc in SOLLOL_SERVICES.items():
        if name == "sim":
            continue
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert svc["environment"]["SOLLOL_REDIS_URL"] == "redis://redis:6379/0", name


def test_dockerfile_runs_as_a_non_root_user_and_configures_by_env_only():
    text = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert 'CMD ["sollol", "gateway"]' in text
    assert "COPY deploy/sim" in text  # the demo profile is inside the image


def _commands():
    for name, svc in SOLLOL_SERVICES.items():
        yield pytest.param(name, svc["command"], id=name)


@pytest.mark.parametrize(("name", "command"), list(_commands()))
def test_each_service_command_resolves_to_a_real_entry_point(name, command):
    if command[0] == "sollol":
        if command[1] == "sim":
            from sollol.sim.cli import build_parser

            args = build_parser().parse_args(command[2:])
            assert Path(ROOT, args.profile).exists()
            return
        from sollol.cli import _build_parser

        _build_parser().parse_args(command[1:])
        return
    assert command[:3] == ["celery", "-A", "sollol"], command
    from celery.bin.celery import celery as celery_cli

    from sollol.celery import app

    sub = command[3]
    assert sub in celery_cli.commands or sub == "flower", sub
    if sub == "flower":
        import flower.command  # noqa: F401 - the flower sub-command is installed
    if sub == "worker" and "-Q" in command:
        queue = command[command.index("-Q") + 1]
        from sollol.names import validate_host_name

        if queue != "sollol":
            validate_host_name(queue)
    assert "sollol.infer" in app.tasks


def test_demo_workers_match_the_simulated_fleet_they_serve():
    from sollol.sim.profile import load_profile

    sim_cmd = SERVICES["sim"]["command"]
    profile = load_profile(ROOT / sim_cmd[sim_cmd.index("--profile") + 1])
    workers = {n: s for n, s in SOLLOL_SERVICES.items() if n.startswith("worker-")}
    assert len(workers) == len(profile.nodes)
    for node in profile.nodes:
        svc = workers[f"worker-{node.name}"]
        cmd = svc["command"]
        assert cmd[cmd.index("-Q") + 1] == node.name
        assert svc["environment"]["SOLLOL_OLLAMA_URL"] == f"http://sim:{node.port}"
        assert int(svc["environment"]["SOLLOL_WORKER_SLOTS"]) == node.num_parallel


def test_prometheus_scrapes_the_gateway_and_flower():
    cfg = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        t for job in cfg["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    }
    assert targets == {"gateway:8000", "flower:5555"}


def test_readme_starts_with_the_two_commands_and_documents_the_gpu_box_worker():
    readme = (ROOT / "README.md").read_text()
    first_screen = "\n".join(readme.splitlines()[:40])
    assert "make run" in first_screen and "make test" in first_screen
    assert "celery -A sollol worker -Q" in readme


def test_several_apps_in_one_process_do_not_share_tasks():
    """Tasks are registered per app (shared=False): embedding code may build more than one."""
    from sollol.config import load_config
    from sollol.workers.celery_app import make_celery

    first, second = make_celery(load_config(env={})), make_celery(load_config(env={}))
    assert first.tasks["sollol.infer"] is not second.tasks["sollol.infer"]


@pytest.mark.parametrize(
    ("command", "role"),
    [
        (["sollol", "gateway"], ("gateway", "")),
        (["/opt/sollol/bin/python", "-m", "gunicorn", "sollol.api.wsgi:app"], ("gateway", "")),
        (
            ["celery", "-A", "sollol", "worker", "-Q", "gpu-a", "-n", "gpu-a@%h"],
            ("worker", "gpu-a"),
        ),
        (["celery", "-A", "sollol", "worker", "-Q", "sollol", "-n", "control@%h"], ("control", "")),
        (["celery", "-A", "sollol", "beat", "-s", "/tmp/x"], ("beat", "")),
        (["celery", "-A", "sollol", "flower", "--port=5555"], ("flower", "")),
        (["sollol", "flower", "--port", "5555"], ("flower", "")),
        (["sollol", "sim", "--profile", "deploy/sim/mixed.yaml"], ("sim", "")),
        (["bash"], ("", "")),
    ],
)
def test_the_image_health_check_knows_each_role_from_its_command(command, role):
    from sollol.probe import role_of

    assert role_of(command) == role


def test_every_sollol_service_has_a_health_check_that_fits_its_role():
    from sollol.probe import role_of

    text = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "sollol.probe", "auto"]' in text  # not the gateway's port
    for name, svc in SOLLOL_SERVICES.items():
        test = svc["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "-m", "sollol.probe"], name
        role, host = role_of(svc["command"])
        assert test[4:] == ([role, host] if host else [role]), name


def test_worker_and_beat_probes_read_redis():
    import time

    import fakeredis

    from sollol.config import load_config
    from sollol.probe import probe

    redis, cfg = fakeredis.FakeRedis(decode_responses=True), load_config(env={})
    assert probe("worker", "gpu-a", cfg, redis) == (False, "heartbeat of gpu-a missing in Redis")
    redis.set(cfg.key("alive", "gpu-a"), "w", px=5000)
    assert probe("worker", "gpu-a", cfg, redis)[0]
    assert probe("beat", cfg=cfg, client=redis) == (True, "no host registered yet; Redis answers")
    redis.hset(cfg.key("health", "gpu-a"), "checked_at", time.time())  # as the worker answers
    assert probe("beat", cfg=cfg, client=redis)[0]
    redis.hset(cfg.key("health", "gpu-a"), "checked_at", time.time() - 3600)
    assert not probe("beat", cfg=cfg, client=redis)[0]  # no health round for an hour


GRAFANA = ROOT / "deploy" / "grafana" / "sollol-dashboard.json"


def _exposed_metric_names():
    """Every sample name a gateway's /metrics shows once each kind of request was observed."""
    import time

    import fakeredis
    from celery import Celery
    from prometheus_client.parser import text_string_to_metric_families

    from sollol.api import create_app
    from sollol.config import load_config
    from sollol.state.registry import HostRecord, write_heartbeat

    redis, cfg = fakeredis.FakeRedis(decode_responses=True), load_config(env={})
    write_heartbeat(
        redis, cfg, HostRecord(name="a", worker="w", ollama_ok=True, seen_at=time.time())
    )
    app = create_app(cfg, celery=Celery("t", broker="memory://", set_as_current=False), redis=redis)
    entry = {
        "endpoint": "chat",
        "host": "a",
        "model": "m",
        "priority": 5,
        "attempts": 2,
        "outcome": "error",
        "actual_ms": 5.0,
        "queue_wait_ms": 1.0,
        "ttft_ms": 2.0,
        "eval_count": 5,
        "eval_duration_ns": 10**8,
    }
    app.extensions["sollol"].metrics.observe(entry)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_grafana_dashboard_imports_cleanly_and_charts_only_real_metrics():
    dash = json.loads(GRAFANA.read_text())
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"  # works imported or provisioned
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exposed = _exposed_metric_names()
    for panel in dash["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            for name in re.findall(r"\bsollol_[a-z_]+", target["expr"]):
                assert name in exposed, (panel["title"], name)


def test_grafana_in_compose_loads_the_dashboard_and_the_prometheus_datasource():
    grafana = SERVICES["grafana"]
    mounts = {v.split(":")[0] for v in grafana["volumes"]}
    assert {"./deploy/grafana/provisioning", "./deploy/grafana/sollol-dashboard.json"} <= mounts
    ds = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"


def test_prometheus_entrypoint_hands_the_scrape_secrets_to_prometheus_as_files(tmp_path):
    """With keys on, the gateway's /metrics wants SOLLOL_METRICS_TOKEN and Flower its basic auth:
    the compose entrypoint writes both from the environment, private, where the config points."""
    import os
    import stat
    import subprocess

    fake_prometheus = tmp_path / "prometheus"
    fake_prometheus.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/argv"\n')
    fake_prometheus.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "PROMETHEUS_DATA": str(tmp_path),
        "PROMETHEUS_TEMPLATE": str(ROOT / "deploy/prometheus/prometheus.yml"),
        "PROMETHEUS_BIN": str(fake_prometheus),
        "SOLLOL_METRICS_TOKEN": "tok-123",
        "FLOWER_USER_PASSWORD": "ops:pa:ss",
    }
    script = ROOT / "deploy/prometheus/entrypoint.sh"
    subprocess.run(["sh", str(script)], env=env, check=True, timeout=30)

    cfg = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in cfg["scrape_configs"]}
    token_file = Path(jobs["sollol-gateway"]["authorization"]["credentials_file"])
    assert token_file.read_text() == "tok-123"
    flower = jobs["flower"]["basic_auth"]
    assert flower["username"] == "ops"
    assert Path(flower["password_file"]).read_text() == "pa:ss"  # split at the first colon
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    argv = (tmp_path / "argv").read_text()
    assert f"--config.file={tmp_path}/prometheus.yml" in argv

    svc = COMPOSE["services"]["prometheus"]
    assert svc["entrypoint"][-1] == "/etc/prometheus/entrypoint.sh"
    mounts = {v.split(":")[1] for v in svc["volumes"]}
    assert {"/etc/prometheus/entrypoint.sh", "/etc/prometheus/prometheus.yml"} <= mounts
    gateway_env = COMPOSE["services"]["gateway"]["environment"]
    assert gateway_env["SOLLOL_METRICS_TOKEN"] == svc["environment"]["SOLLOL_METRICS_TOKEN"]


def test_prometheus_entrypoint_refuses_a_user_name_that_would_break_the_config(tmp_path):
    import os
    import subprocess

    env = {
        "PATH": os.environ["PATH"],
        "PROMETHEUS_DATA": str(tmp_path),
        "PROMETHEUS_TEMPLATE": str(ROOT / "deploy/prometheus/prometheus.yml"),
        "PROMETHEUS_BIN": "true",
        "FLOWER_USER_PASSWORD": 'a"b|c:pw',
    }
    script = ROOT / "deploy/prometheus/entrypoint.sh"
    out = subprocess.run(
        ["sh", str(script)], check=False, env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 2 and "user name" in out.stderr
    assert not (tmp_path / "prometheus.yml").exists()
