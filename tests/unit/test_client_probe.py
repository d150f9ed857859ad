"""The probe that tells a queued request its client hung up (sollol/api/client_probe.py)."""

import socket

from sollol.api.client_probe import client_probe


def _pair():
    server, client = socket.socketpair()
    return server, client, client_probe({"gunicorn.socket": server})


def test_an_open_quiet_connection_is_still_there():
    server, client, gone = _pair()
    with server, client:
        assert gone() is False


def test_a_closed_connection_is_gone():
    server, client, gone = _pair()
    with server:
        client.close()
        assert gone() is True


def test_waiting_bytes_are_not_a_hang_up_and_are_not_consumed():
    server, client, gone = _pair()
    with server, client:
        client.sendall(b"GET / HTTP/1.1\\r\\n")  # a pipelined request
        assert gone() is False
        assert server.recv(3) == b"GET"  # the probe only peeked


def test_no_socket_means_never_gone():
    assert client_probe({})() is False
    assert client_probe({"gunicorn.socket": "not a socket"})() is False


def test_descriptors_past_1024_work(tmp_path):
    """select() refuses descriptors >= 1024 (a ValueError the probe would read as a hang-up);
    a gateway holding 1000 open requests has such descriptors."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    fillers = [os.open(os.devnull, os.O_RDONLY) for _ in range(1030)]
    try:
        server, client, gone = _pair()
        with server, client:
            assert server.fileno() >= 1024
            assert gone() is False
            client.close()
            assert gone() is True
    finally:
        for fd in fillers:
            os.close(fd)
