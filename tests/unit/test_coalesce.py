"""Coalescing a streamed answer: the first line goes at once, later lines share an entry within
the window, and no line waits longer than the window (a fake clock and a fake writer)."""

from __future__ import annotations

from sollol.workers.coalesce import ChunkCoalescer


class FakeWriter:
    def __init__(self) -> None:
        self.entries: list[tuple[str, bytes]] = []

    def emit(self, kind: str, data: bytes = b"") -> None:
        self.entries.append((kind, data))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _coalescer(more_answers: list[bool]):
    writer, clock, waits = FakeWriter(), Clock(), []

    def more(timeout_s: float) -> bool:
        waits.append(round(timeout_s, 6))
        return more_answers.pop(0) if more_answers else False

    c = ChunkCoalescer(writer, more, window_s=0.005, clock=clock)  # type: ignore[arg-type]
    return c, writer, clock, waits


def test_the_first_line_is_written_at_once():
    c, writer, _, _ = _coalescer([])
    c.add(b"1")
    assert writer.entries == [("chunk", b"1")]


def test_lines_arriving_within_the_window_share_one_entry():
    c, writer, clock, _ = _coalescer([True, True])
    c.add(b"1")
    for line in (b"2", b"3"):
        clock.now += 0.001
        c.add(line)
        c.settle()  # more data is on its way: keep gathering
    clock.now += 0.003  # 5 ms since the first entry: the window closed
    c.add(b"4")
    assert writer.entries == [("chunk", b"1"), ("chunk", b"2\n3\n4")]
    assert c.sent == 4


def test_a_gathered_line_waits_only_until_the_window_closes():
    c, writer, clock, waits = _coalescer([False])
    c.add(b"1")
    clock.now += 0.002
    c.add(b"2")
    c.settle()  # upstream stays quiet for the rest of the window: send what we hold
    assert waits == [0.003]
    assert writer.entries == [("chunk", b"1"), ("chunk", b"2")]


def test_flush_writes_what_is_gathered_and_nothing_when_empty():
    c, writer, clock, _ = _coalescer([True])
    c.add(b"1")
    clock.now += 0.001
    c.add(b"2")
    c.flush()
    c.flush()
    assert writer.entries == [("chunk", b"1"), ("chunk", b"2")]
