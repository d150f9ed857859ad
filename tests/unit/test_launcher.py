"""`sollol up --hosts FILE` accepts 'name url' lines and the seed's bare 'host:port' lines."""

import pytest

from sollol.hosts import parse_hosts
from sollol.launcher import parse_hosts_file


def test_hosts_file_with_names_and_urls(tmp_path):
    f = tmp_path / "hosts.txt"
    f.write_text("# my fleet\ngpu-a http://10.0.0.5:11434\ngpu-b 10.0.0.6:11434  # spare\n")
    hosts = parse_hosts_file(f, slots=2)
    assert [(h.name, h.url, h.slots) for h in hosts] == [
        ("gpu-a", "http://10.0.0.5:11434", 2),
        ("gpu-b", "http://10.0.0.6:11434", 2),
    ]


def test_seed_style_host_port_lines_get_derived_names(tmp_path):
    f = tmp_path / "hosts.txt"
    f.write_text("10.0.0.5:11434\nbox.local\n")
    hosts = parse_hosts_file(f)
    assert [(h.name, h.url) for h in hosts] == [
        ("10-0-0-5-11434", "http://10.0.0.5:11434"),
        ("box-local", "http://box.local:11434"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no hosts"),
        ("GPU http://x:1\n", "invalid host name"),
        ("a http://x:1\na http://y:1\n", "duplicate"),
        ("a b c\n", "expected"),
    ],
)
def test_bad_hosts_files_are_explained(tmp_path, text, message):
    f = tmp_path / "hosts.txt"
    f.write_text(text)
    with pytest.raises(ValueError, match=message):
        parse_hosts_file(f)


def test_a_hosts_line_may_carry_slots_tags_and_memory(tmp_path):
    f = tmp_path / "hosts.txt"
    f.write_text(
        "gpu-a http://10.0.0.5:11434 slots=4 tags=gpu vram_mb=24576\n"
        "10.0.0.6:11434 slots=1 tags=cpu,small max_loaded_models=1\n"
    )
    a, b = parse_hosts_file(f, slots=2)
    assert (a.name, a.slots, a.tags, a.vram_mb) == ("gpu-a", 4, ("gpu",), 24576)
    assert (b.name, b.slots, b.tags, b.max_loaded_models) == (
        "10-0-0-6-11434",
        1,
        ("cpu", "small"),
        1,
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("gpu-a http://x:1 slot=4", "unknown option 'slot'"),
        ("gpu-a http://x:1 slots=four", "slots must be a whole number"),
        ("gpu-a http://x:1 slots=0", "slots must be >= 1"),
    ],
)
def test_bad_host_options_are_explained(tmp_path, line, message):
    f = tmp_path / "hosts.txt"
    f.write_text(line + "\n")
    with pytest.raises(ValueError, match=f"hosts.txt:1: {message}"):
        parse_hosts_file(f)


def test_a_host_list_uses_the_same_syntax_as_a_hosts_file():
    hosts = parse_hosts(["127.0.0.1:11434", "gpu-b http://10.0.0.2:11434 slots=2"])
    assert [(h.name, h.url, h.slots) for h in hosts] == [
        ("127-0-0-1-11434", "http://127.0.0.1:11434", 4),
        ("gpu-b", "http://10.0.0.2:11434", 2),
    ]


@pytest.mark.parametrize(
    ("profile_scale", "setting", "expected"),
    [(0.25, 1.0, 0.25), (1.0, 1.0, 1.0), (0.25, 0.5, 0.5)],  # an explicit setting wins
)
def test_sollol_up_on_a_sped_up_sim_tells_the_router_its_clock(
    tmp_path, profile_scale, setting, expected
):
    """`sollol up --sim N --time-scale F`: gateway, beat and workers get SOLLOL_TIME_SCALE=F, so
    the router prices a cold load in the fleet's clock, not in real seconds."""
    from sollol.config import SOLLOLConfig, child_env
    from sollol.launcher import Stack

    stack = Stack(
        cfg=SOLLOLConfig(time_scale=setting),
        sim_nodes=2,
        time_scale=profile_scale,
        log_dir=tmp_path,
    )
    spawned = []
    stack._spawn = lambda name, argv, **kw: spawned.append(argv) or object()
    stack._wait_log = lambda child, marker, timeout_s: None
    stack._start_sim()
    assert "--time-scale" in spawned[0]
    assert stack.cfg.time_scale == expected
    env = child_env(stack.cfg)
    assert env.get("SOLLOL_TIME_SCALE", "1.0") == str(expected)
    assert [h.name for h in stack.hosts] and len(stack.hosts) == 2
