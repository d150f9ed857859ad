"""Merging several hosts' Ollama progress streams into one, as one Ollama would report it."""

from __future__ import annotations

from sollol.api.model_progress import ProgressMerge

LAYER = {"status": "pulling 0123456789ab", "digest": "sha256:0123456789abcdef"}


def test_layer_progress_is_summed_over_hosts():
    m = ProgressMerge("pull", ("a", "b"))
    assert m.feed("a", {**LAYER, "total": 100, "completed": 10}) == [
        {**LAYER, "total": 100, "completed": 10}
    ]
    assert m.feed("b", {**LAYER, "total": 100, "completed": 30}) == [
        {**LAYER, "total": 200, "completed": 40}
    ]
    assert m.feed("a", {**LAYER, "total": 100, "completed": 100})[0]["completed"] == 130


def test_zero_completed_is_omitted_as_ollama_does():
    m = ProgressMerge("pull", ("a",))
    assert m.feed("a", {**LAYER, "total": 100}) == [{**LAYER, "total": 100}]


def test_each_phase_is_said_once_and_success_only_by_the_verdict():
    m = ProgressMerge("pull", ("a", "b"))
    assert m.feed("a", {"status": "pulling manifest"}) == [{"status": "pulling manifest"}]
    assert m.feed("b", {"status": "pulling manifest"}) == []
    assert m.feed("a", {"status": "success"}) == []


def test_success_needs_every_chosen_host():
    m = ProgressMerge("pull", ("a", "b"))
    m.succeed("a")
    assert m.pending == ["b"]
    assert m.final() == {"error": "pull failed on b: did not finish (succeeded on a)"}
    m.succeed("b")
    assert m.final() == {"status": "success"}


def test_the_error_names_each_failed_and_skipped_host_and_why():
    m = ProgressMerge("pull", ("a", "b"), skipped={"c": "host is down or unknown (skipped)"})
    m.fail("a", "pull model manifest: file does not exist")
    m.succeed("b")
    assert m.final() == {
        "error": "pull failed on a: pull model manifest: file does not exist; "
        "c: host is down or unknown (skipped) (succeeded on b)"
    }


def test_nothing_to_run_on_is_an_error_not_a_success():
    assert "error" in ProgressMerge("pull", ()).final()
