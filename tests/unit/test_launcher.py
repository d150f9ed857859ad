"""`sollol up --hosts FILE` accepts 'name url' lines and the seed's bare 'host:port' lines."""

import pytest

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
