"""tests.helpers.wait_for: the polling every test uses instead of sleeping."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.helpers import wait_for


def test_returns_the_first_truthy_value_of_the_condition():
    values = iter([0, None, "", 7, 8])
    assert wait_for(lambda: next(values), timeout=5, interval=0) == 7


def test_fails_after_the_timeout_saying_what_it_waited_for():
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match=r"after 0\.05 s waiting for the moon"):
        wait_for(lambda: False, timeout=0.05, what="the moon", interval=0.01)
    assert time.monotonic() - t0 >= 0.05


def test_a_callable_description_is_asked_at_the_end():
    calls = itertools.count()
    with pytest.raises(AssertionError, match="seen 5 times"):
        wait_for(lambda: next(calls) >= 5 and False, 0.05, lambda: "seen 5 times", interval=0)


def test_the_condition_is_checked_at_least_once_even_with_no_time_left():
    assert wait_for(lambda: "ready", timeout=0) == "ready"
