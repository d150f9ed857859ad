"""`sollol embed`: reading .jsonl/.txt/.csv collections and resuming from a cut output file."""

from __future__ import annotations

import json

from sollol.embed_cli import drop_cut_line, read_docs, written_ids


def test_jsonl_txt_and_csv_docs(tmp_path):
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('"plain"\n\n{"id": 7, "text": "seven", "metadata": {"k": 1}}\n{"text": "x"}\n')
    assert list(read_docs(jsonl)) == [
        {"text": "plain", "id": "0"},
        {"id": "7", "text": "seven", "metadata": {"k": 1}},
        {"text": "x", "id": "2"},
    ]
    txt = tmp_path / "d.txt"
    txt.write_text("first line\nsecond line\n")
    assert list(read_docs(txt)) == [
        {"id": "0", "text": "first line"},
        {"id": "1", "text": "second line"},
    ]
    csv = tmp_path / "d.csv"
    csv.write_text('id,body\na,"hello, world"\n,untitled\n')
    assert list(read_docs(csv, text_column="body")) == [
        {"id": "a", "text": "hello, world"},
        {"id": "1", "text": "untitled"},  # no id: its row number
    ]


def test_resume_skips_ids_with_a_vector_and_ignores_a_cut_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    assert written_ids(out) == set()
    lines = [
        json.dumps({"id": "a", "embedding": [1]}),
        json.dumps({"id": "b", "error": "too long"}),  # failed: tried again on a re-run
        '{"id": "c", "embed',
    ]
    out.write_text("\n".join(lines))
    assert written_ids(out) == {"a"}
    drop_cut_line(out)  # appending must not glue the next line onto the cut one
    assert out.read_text() == "\n".join(lines[:2]) + "\n"
