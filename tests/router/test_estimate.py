"""The completion-time estimate behind the `performance` strategy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import lognorm

from sollol.router import Estimator, Tuning, predict_duration_s
from sollol.router.estimate import FIRST_FREE, expected_output_tokens, slowdown

from .fleet import CODER, EMBED, LLAMA, host, request, snap, stats

T = Tuning()
FAST = stats(prompt_tps=4000, gen_tps=100, load_s=3.0)


def predict(h: object, profile: object = None, *others: object, **kw: object) -> object:
    profile = profile or request(prompt_tokens=400, output_tokens=100)
    return Estimator(profile, snap(h, *others, **kw)).predict(h)  # type: ignore[arg-type]


def test_an_idle_host_with_the_model_loaded_costs_prompt_plus_generation() -> None:
    p = predict(host("a", learned={LLAMA: FAST}))
    assert (p.wait_s, p.load_s, p.penalty_s) == (0.0, 0.0, 0.0)
    assert p.prompt_s == pytest.approx(0.1) and p.gen_s == pytest.approx(1.0)


def test_sharing_the_model_slows_the_request_as_the_simulator_does() -> None:
    p = predict(host("a", learned={LLAMA: FAST}, running=2))  # 3 requests share the model
    assert p.gen_s == pytest.approx(1.0 / slowdown(3))
    assert p.penalty_s > 0  # and the two already running slow down too


def test_queue_wait_counts_work_at_or_above_the_priority_per_slot() -> None:
    h = host("a", learned={LLAMA: FAST}, running=4, queued={5: 3, 1: 50}, slots=4)
    e = Estimator(request(output_tokens=100), snap(h))
    # 4 running + 3 queued ahead → the 4th departure frees a worker: (7 − 4 + 1) / 4 services
    assert e.predict(h).wait_s == pytest.approx(1.0 * e.service_mix_s(h) * T.wait_factor)
    # nothing learned about llama's outputs yet: this request's 100 tokens stand for them
    assert e.service_mix_s(h) == pytest.approx(0.05 + 100 / (100 * slowdown(4)))


def test_a_full_host_of_few_slots_waits_longer_per_slot_for_its_first_free_one() -> None:
    def wait(slots: int) -> float:
        h = host("a", learned={LLAMA: FAST}, running=slots, slots=slots)
        e = Estimator(request(output_tokens=100), snap(h))
        return e.predict(h).wait_s / (e.service_mix_s(h) * T.wait_factor / slots)

    # one departure needed each time: the plain count is 1 service per slot, stretched on 1-3
    assert [wait(s) for s in (1, 2, 3, 4, 8)] == pytest.approx([*FIRST_FREE[1:], 1.0, 1.0])
    assert wait(1) > wait(2) > wait(3) > wait(4)


def test_the_first_free_slot_factors_are_the_residuals_of_heavy_tailed_answers() -> None:
    # E[min of s equilibrium residuals] of a log-normal service (σ = 1, mean 1), × s, relative
    # to s = 4: P(R > t) = E[(S − t)+] / E[S], E[min] = ∫ P(R > t)^s dt
    service = lognorm(s=1.0, scale=np.exp(-0.5))
    t = np.linspace(0.0, 60.0, 60_001)
    tail = np.cumsum(service.sf(t)[::-1])[::-1] * (t[1] - t[0])  # ∫_t^∞ P(S > u) du
    per_slot = [s * np.trapezoid(tail**s, t) for s in (1, 2, 3, 4)]
    assert per_slot[0] == pytest.approx(np.exp(1.0) / 2, rel=0.01)  # E[S²] / 2E[S]
    assert [p / per_slot[3] for p in per_slot] == pytest.approx([*FIRST_FREE[1:], 1.0], rel=0.01)


def test_free_worker_means_no_wait() -> None:
    assert predict(host("a", learned={LLAMA: FAST}, running=3, slots=4)).wait_s == 0.0


def test_cold_model_adds_its_learned_load_time_and_the_churn_penalty() -> None:
    p = predict(host("a", loaded=(), learned={LLAMA: FAST}))
    # it fits beside nothing: the small penalty of a load into free room
    assert p.load_s == 3.0 and p.penalty_s == T.cold_room_penalty_s < T.cold_penalty_s


def test_a_load_that_evicts_beside_a_queue_costs_its_time_to_every_message_waiting() -> None:
    # the loading request holds a worker: each message queued on the host (any priority)
    # waits for it, per slot; that is churn only when the load throws a model out
    coder = stats(prompt_tps=2000, gen_tps=40, load_s=5.5)

    def full(**kw: object) -> object:
        return host(
            "a",
            installed=(LLAMA, CODER),
            loaded=(CODER,),
            max_loaded_models=1,
            slots=2,
            learned={LLAMA: FAST, CODER: coder},
            **kw,
        )

    quiet, queued = predict(full()), predict(full(queued={1: 3, 9: 1}))
    assert queued.load_s == quiet.load_s == 3.0
    assert queued.penalty_s == pytest.approx(quiet.penalty_s + 3.0 * 4 / 2)
    # a load into free room serves the model's later requests there: no queue charge
    room = predict(host("a", loaded=(), learned={LLAMA: FAST}, slots=2, queued={1: 3, 9: 1}))
    assert room.penalty_s == T.cold_room_penalty_s


def test_evicting_an_idle_model_costs_its_reload_there() -> None:
    coder = stats(prompt_tps=2000, gen_tps=40, load_s=5.5)
    embed = stats(prompt_tps=4000, gen_tps=0, load_s=0.8)
    one = host(
        "a",
        installed=(LLAMA, CODER),
        loaded=(CODER,),
        max_loaded_models=1,
        learned={LLAMA: FAST, CODER: coder},
    )
    assert predict(one).penalty_s == pytest.approx(T.cold_penalty_s + 5.5)
    # two idle models, either may leave (Ollama picks): the longer reload is priced
    two = host(
        "b",
        installed=(LLAMA, CODER, EMBED),
        loaded=(CODER, EMBED),
        max_loaded_models=2,
        learned={LLAMA: FAST, CODER: coder, EMBED: embed},
    )
    assert predict(two).penalty_s == pytest.approx(T.cold_penalty_s + 5.5)
    # a model not yet timed here: its default load time from its size
    unknown = host(
        "c", installed=(LLAMA, CODER), loaded=(CODER,), max_loaded_models=1, learned={LLAMA: FAST}
    )
    e = Estimator(request(prompt_tokens=400, output_tokens=100), snap(unknown))
    default = T.load_base_s + unknown.installed[CODER] / 1000.0 * T.load_s_per_gb
    assert e.predict(unknown).penalty_s == pytest.approx(T.cold_penalty_s + default)


def test_evicting_a_busy_model_waits_for_it_and_costs_more() -> None:
    idle = host(
        "a", installed=(LLAMA, CODER), loaded=(CODER,), max_loaded_models=1, learned={LLAMA: FAST}
    )
    busy = host(
        "b",
        installed=(LLAMA, CODER),
        loaded=(CODER,),
        max_loaded_models=1,
        running=1,
        running_by_model={CODER: 1},
        learned={LLAMA: FAST},
    )
    pi, pb = predict(idle), predict(busy)
    assert pb.penalty_s == T.cold_penalty_s + T.evict_busy_penalty_s > pi.penalty_s
    assert pb.load_s > pi.load_s == 3.0  # it waits for the coder request to drain


def test_a_host_without_samples_borrows_the_median_of_its_kind() -> None:
    learned = [
        host(f"g{i}", learned={LLAMA: stats(gen_tps=v)}) for i, v in enumerate((50, 100, 400))
    ]
    new = host("new")
    p = predict(new, request(prompt_tokens=0, output_tokens=100), *learned)
    assert p.gen_s == pytest.approx(1.0)  # median 100 tok/s, not the mean 183


def test_without_any_sample_defaults_are_conservative_and_cpu_boxes_slower() -> None:
    gpu, cpu = host("g"), host("c", tags=("cpu",), vram_mb=0.0)
    profile = request(prompt_tokens=0, output_tokens=80)
    assert predict(gpu, profile).gen_s == pytest.approx(80 / T.gpu_gen_tps)
    assert predict(cpu, profile).gen_s == pytest.approx(80 / T.cpu_gen_tps)


def test_embeddings_generate_nothing_and_use_embedding_rates() -> None:
    h = host("a", installed=(EMBED,), loaded=(EMBED,))
    p = predict(h, request(EMBED, task_type="embedding", endpoint="embed", prompt_tokens=400))
    assert p.gen_s == 0.0 and p.prompt_s == pytest.approx(400 / T.gpu_embed_tps)


@pytest.mark.parametrize(
    ("profile", "learned", "expected"),
    [
        (request(output_tokens=64), {}, 64.0),  # the client fixed it
        (request(), {(LLAMA, "chat"): 321.0}, 321.0),  # learned for (model, task)
        (request(task_type="classification"), {}, 20.0),  # the task type's default
        (request(task_type="embedding", endpoint="embed"), {(LLAMA, "embedding"): 9.0}, 0.0),
    ],
)
def test_expected_output_tokens(
    profile: object, learned: dict[tuple[str, str], float], expected: float
) -> None:
    assert expected_output_tokens(profile, snap(output_tokens=learned)) == expected  # type: ignore[arg-type]


def test_predict_duration_s_is_the_estimate_total() -> None:
    h = host("a", learned={LLAMA: FAST}, running=4, queued={5: 2})
    profile = request(output_tokens=100)
    assert predict_duration_s(profile, h, snap(h)) == pytest.approx(
        Estimator(profile, snap(h)).predict(h).total_s
    )
