"""``sollol embed FILE --model M -o out.jsonl``: embed a document collection through the gateway.

FILE is ``.jsonl`` (one doc a line: a string or ``{"id", "text", "metadata"?}``), ``.txt`` (one
doc a line, its id the line number from 0) or ``.csv`` (a header row; columns ``id`` and ``text``,
or ``--text-column``). The docs go up as one NDJSON batch job; a progress bar shows docs/s, ETA
and the hosts in use; vectors are appended to the output as they arrive, one ``{"id",
"embedding"}`` line each. Re-running the same command resumes: ids already in the output are
skipped. Docs that failed are reported on stderr and not written, so a re-run tries them again.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

__all__ = ["add_embed_command", "drop_cut_line", "embed_command", "read_docs", "written_ids"]

POLL_S = 0.5
PAGE = 2000


def add_embed_command(sub: Any) -> None:
    """The ``embed`` subcommand on the ``sollol`` parser."""
    p = sub.add_parser(
        "embed",
        help="embed a .jsonl/.txt/.csv collection as a batch job; resumable",
        description=(__doc__ or "").split("\n\n", 1)[1].strip(),
    )
    p.add_argument("file", help="docs: .jsonl, .txt or .csv")
    p.add_argument("-o", "--output", required=True, help="output .jsonl (appended, resumable)")
    p.add_argument("--model", help="embedding model (default: the gateway's default)")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="gateway URL")
    p.add_argument("--priority", type=int, help="1..10 (default: the gateway's batch priority)")
    p.add_argument("--text-column", default="text", help="CSV column holding the text")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def read_docs(path: Path, text_column: str = "text") -> Iterator[dict[str, Any]]:
    """Docs of ``path`` as ``{"id", "text", "metadata"?}``, ids as strings."""
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8", newline="") as f:
        if suffix == ".csv":
            for i, row in enumerate(csv.DictReader(f)):
                yield {"id": str(row.get("id") or i), "text": row[text_column]}
        elif suffix in (".jsonl", ".ndjson"):
            for i, line in enumerate(x for x in f if x.strip()):
                obj = json.loads(line)
                if isinstance(obj, str):
                    obj = {"text": obj}
                yield {**obj, "id": str(obj.get("id", i))}
        else:
            for i, line in enumerate(f):
                yield {"id": str(i), "text": line.rstrip("\r\n")}


def written_ids(path: Path) -> set[str]:
    """Ids that already have a vector in the output file (a cut last line is ignored)."""
    done: set[str] = set()
    if not path.exists():
        return done
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if "embedding" in obj:
                done.add(str(obj["id"]))
    return done


def drop_cut_line(path: Path) -> None:
    """Remove a last line cut short by an interrupted run, so appending starts on a new line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def embed_command(args: argparse.Namespace) -> int:
    out = Path(args.output)
    drop_cut_line(out)
    done = written_ids(out)
    todo = [d for d in read_docs(Path(args.file), args.text_column) if d["id"] not in done]
    if not todo:
        print(f"all docs of {args.file} are in {out} already", file=sys.stderr)
        return 0
    url = args.url.rstrip("/")
    job = _submit(url, todo, args.model, args.priority)
    print(f"job {job}: {len(todo)} docs ({len(done)} already in {out})", file=sys.stderr)
    errors = _follow(url, job, todo, out, args.quiet)
    if errors:
        print(f"{len(errors)} docs failed (not written; re-run to retry):", file=sys.stderr)
        for e in errors[:10]:
            print(f"  {e['id']}: {e['error']}", file=sys.stderr)
        return 1
    return 0


def _submit(url: str, docs: list[dict[str, Any]], model: str | None, prio: int | None) -> str:
    params = {k: v for k, v in (("model", model), ("priority", prio)) if v is not None}
    body = (json.dumps(d).encode() + b"\n" for d in docs)  # streamed, chunked upload
    r = requests.post(
        f"{url}/api/embed/batch",
        params=params,
        data=body,
        headers={"Content-Type": "application/x-ndjson"},
        timeout=600,
    )
    if r.status_code != 202:
        raise SystemExit(f"sollol embed: {r.status_code} {_error(r)}")
    return str(r.json()["job_id"])


def _error(r: requests.Response) -> str:
    try:
        return str(r.json().get("error"))
    except ValueError:
        return r.text[:200]


def _follow(
    url: str, job: str, docs: list[dict[str, Any]], out: Path, quiet: bool
) -> list[dict[str, Any]]:
    """Poll the job, append vectors in input order as they arrive; returns the docs that failed."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[rate]} docs/s"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[hosts]}"),
    )
    writer = _Writer(docs, out)
    with Progress(*columns, disable=quiet, transient=False) as bar:
        task = bar.add_task("embedding", total=len(docs), rate="-", hosts="")
        while True:
            status = _get(f"{url}/api/batch-status/{job}")
            writer.fetch(url, job)
            bar.update(
                task,
                completed=status["done"] + status["failed"],
                rate=f"{status['docs_per_s']:.0f}",
                hosts=", ".join(_hosts(url, job)),
            )
            if status["state"] not in ("loading", "queued", "running"):
                writer.fetch(url, job, until_end=True)
                break
            time.sleep(POLL_S)
    if status["state"] == "cancelled":
        raise SystemExit(f"sollol embed: job {job} was cancelled; re-run to resume")
    return writer.errors


def _get(url: str) -> Any:
    r = requests.get(url, timeout=30)
    r.raise_for_status()
    return r.json()


def _hosts(url: str, job: str) -> list[str]:
    jobs = _get(f"{url}/api/batch-status")["jobs"]
    return next((j.get("hosts", []) for j in jobs if j["job_id"] == job), [])


class _Writer:
    """Appends answered docs to the output in input order, each once."""

    def __init__(self, docs: list[dict[str, Any]], out: Path) -> None:
        self.position = {d["id"]: i for i, d in enumerate(docs)}
        self.total = len(docs)
        self.cursor = 0  # every doc before it is written (or failed)
        self.out = out
        self.errors: list[dict[str, Any]] = []

    def fetch(self, url: str, job: str, until_end: bool = False) -> None:
        while self.cursor < self.total:
            r = requests.get(
                f"{url}/api/embed/batch/{job}/results",
                params={"offset": self.cursor, "limit": PAGE},
                timeout=120,
            )
            r.raise_for_status()
            before = self.cursor
            self._write([json.loads(x) for x in r.text.splitlines() if x.strip()])
            if self.cursor == before or (not until_end and self.cursor < before + PAGE):
                return

    def _write(self, lines: list[dict[str, Any]]) -> None:
        """Write the answered docs that follow the cursor without a gap (lines come in input
        order; a doc after a gap waits for the next fetch, so the file stays in input order)."""
        with self.out.open("a", encoding="utf-8") as f:
            for obj in lines:
                i = self.position.get(str(obj["id"]))
                if i is None or i < self.cursor:
                    continue
                if i > self.cursor:
                    break
                if "embedding" in obj:
                    f.write(json.dumps(obj, separators=(",", ":")) + "\n")
                else:
                    self.errors.append(obj)
                self.cursor += 1
