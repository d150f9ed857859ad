"""The worker takes vectors out of Ollama's /api/embed answer as the exact JSON text Ollama wrote
(no float is parsed or printed again), and falls back to parsing anything it does not expect."""

from __future__ import annotations

import json

import pytest

from sollol.workers.batch_chunk import split_embeddings


@pytest.mark.parametrize(
    "answer",
    [
        {"model": "m", "embeddings": [[0.1, -2e-05, 3], [4, 5.5, 6]], "total_duration": 1},
        {"model": "m", "embeddings": [[1.0, 2.0]]},
        {"embeddings": [], "model": "m"},
        {"model": "m", "embeddings": [[1e-07, -0.33333334]], "prompt_eval_count": 8},
    ],
)
def test_vectors_are_cut_from_the_answer_and_equal_the_parsed_ones(answer):
    for raw in (json.dumps(answer), json.dumps(answer, separators=(",", ":"))):
        got = split_embeddings(raw.encode())
        assert [json.loads(v) for v in got] == answer["embeddings"]
        assert all(" " not in v for v in got)
