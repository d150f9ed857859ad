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
