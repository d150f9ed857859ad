"""Publishing a routed request as a Celery task message, without Celery's per-call machinery.

``Celery.send_task`` builds a protocol-2 message through routers, producer pools and kombu's
retrying publish wrapper; on the gateway that was a third of all CPU per request. Every SOLLOL
request has the same shape (one task, one queue, default exchange, JSON), so this module builds
the very same message — Celery's message protocol v2 inside kombu's Redis envelope — and LPUSHes
it onto the kombu list for the request's priority, in one round trip. The worker is an ordinary
Celery worker and cannot tell the difference; tests/integration/test_publish.py holds this module
to what ``send_task`` produces. ``SOLLOL_FAST_PUBLISH=false`` switches back to ``send_task``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sollol.state.fairness import FairPusher
from sollol.state.held import HeldConnection
from sollol.state.queues import priority_list_keys

__all__ = ["TaskPublisher"]

_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


class TaskPublisher:
    """Builds and pushes Celery protocol-2 messages for one task name."""

    def __init__(self, redis: Any, task: str, host_prefix: str = "") -> None:
        self.redis = redis
        self.task = task
        self.host_prefix = host_prefix  # + host name = its registry record (fair-share quantum)
        self.origin = f"gen{os.getpid()}@{socket.gethostname()}"
        self.reply_to = str(uuid.uuid4())
        self._fair: FairPusher | None = None  # made on the first message that has a tenant

    def message(
        self,
        task_id: str,
        args: list[Any],
        queue: str,
        level: int,
        expires_s: float,
        headers: dict[str, Any],
        argsrepr: str,
    ) -> str:
        """The JSON text kombu would store for ``send_task(..., queue=queue, priority=level)``."""
        now = datetime.now(timezone.utc)
        body = json.dumps([args, {}, _EMBED])
        task_headers = {
            "lang": "py",
            "task": self.task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": (now + timedelta(seconds=expires_s)).isoformat(),
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": argsrepr,
            "kwargsrepr": "{}",
            "origin": self.origin,
            "ignore_result": True,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
            **headers,
        }
        properties = {
            "correlation_id": task_id,
            "reply_to": self.reply_to,
            "delivery_mode": 2,
            "expiration": str(int(expires_s * 1000)),
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": level,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
            # send_task copies these options into the properties as well
            "argsrepr": argsrepr,
            "kwargsrepr": "{}",
        }
        # kombu's json.dumps with default separators: state/aging.py edits this text by pattern
        return json.dumps(
            {
                "body": base64.b64encode(body.encode()).decode(),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": task_headers,
                "properties": properties,
            }
        )

    def publish(
        self,
        task_id: str,
        args: list[Any],
        queue: str,
        level: int,
        expires_s: float,
        headers: dict[str, Any],
        argsrepr: str,
        tenant: str = "",
    ) -> None:
        """LPUSH the message onto ``queue``'s list for kombu priority ``level`` (0 = served first);
        with a ``tenant`` (API keys on), insert it at that tenant's round instead
        (:mod:`sollol.state.fairness`)."""
        key = priority_list_keys(queue)[
            9 - level
        ]  # index p - 1 holds SOLLOL priority p = 10 - level
        message = self.message(task_id, args, queue, level, expires_s, headers, argsrepr)
        if tenant:
            if self._fair is None:
                self._fair = FairPusher(self.redis)
            host_key = self.host_prefix + queue if self.host_prefix else ""
            self._fair.push(key, message, tenant, host_key)
            return
        held = HeldConnection(self.redis)  # one command without redis-py's layers (state/held.py)
        try:
            held.call("LPUSH", key, message)
        finally:
            held.release()
