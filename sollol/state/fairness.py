"""Fair share between API keys within one priority level: round-robin insertion into kombu's lists.

A host's queue holds one Redis list per priority level; workers BRPOP its right end, so the list
is served right to left. Without care it is FIFO: a key that floods the fleet puts every other
key's requests at the same priority behind its whole backlog.

SOLLOL keeps each level's list in *rounds* instead (deficit round robin with a quantum of ``q``
requests, as a per-tenant queue scheduler would serve it): read from the serving end, the list
holds up to ``q`` of every waiting tenant's oldest requests (round 1), then up to ``q`` more of
each (round 2), and so on. A new request of a tenant with ``k`` requests waiting at that level
belongs to round ``k // q + 1`` and goes after its own earlier requests but before every other
tenant's requests of that round or later, which the script finds by walking from the serving
end and counting each tenant's requests. A tenant with fewer than ``q`` requests waiting
therefore goes to the front of the level (behind only its own), however deep another's backlog;
the flooding tenant's own requests go to the back. Serving from the front keeps the rounds in
order, and nothing is ever reordered once queued except by inserting in front of later rounds.

The quantum is the host's slot count (its registry record's ``slots``): a host starts that many
requests at once, so a tenant whose requests fit in the host's slots waits as it would with
the host to itself, apart from the running requests it cannot pre-empt. With a quantum of one
a light tenant's second waiting request went behind the flooding tenant's oldest one, which
bench/fairness.py's per-request timeline (bench/fair_timeline.py) showed to be most of the
light tenant's p99 wait.

The script reads the ``SCAN_LIMIT`` requests nearest the serving end (one LRANGE) and counts each
tenant's among them; past them a request is appended at the back, which is where a tenant with
that many requests waiting belongs anyway. Messages carry the tenant in a
``sollol_tenant`` header; messages without one (keys off, beat's own tasks) count as the tenant
``""``. Aging (:mod:`sollol.state.aging`) still promotes overdue messages across levels.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FAIR_PUSH_LUA", "SCAN_LIMIT", "TENANT_HEADER", "FairPusher"]

TENANT_HEADER = "sollol_tenant"
SCAN_LIMIT = 128  # requests looked at per insertion, from the serving end

# KEYS[1]: the level's list; KEYS[2]: the host's record (its ``slots`` are the quantum).
# ARGV: message, tenant, scan limit.
# Returns how many queued messages the new one goes behind (its position from the serving end).
FAIR_PUSH_LUA = """
local list, msg, tenant, limit = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local q = math.max(1, math.floor(tonumber(redis.call('HGET', KEYS[2], 'slots') or 1) or 1))
local items = redis.call('LRANGE', list, -limit, -1)
local tenants, mine = {}, 0
for i = 1, #items do
  local t = string.match(items[i], '"sollol_tenant": "([^"]*)"') or ''
  tenants[i] = t
  if t == tenant then mine = mine + 1 end
end
-- the new request's round: q requests of each tenant per round
local round = math.floor(mine / q) + 1
-- from the serving end (the last item), past the tenant's own requests, the first other
-- tenant's request of that round or later
local seen = {}
for i = #items, 1, -1 do
  local t = tenants[i]
  local n = (seen[t] or 0) + 1
  seen[t] = n
  if t ~= tenant and (seen[tenant] or 0) == mine and math.ceil(n / q) >= round then
    redis.call('LINSERT', list, 'AFTER', items[i], msg)
    return #items - i
  end
end
redis.call('LPUSH', list, msg)
return redis.call('LLEN', list) - 1
"""


class FairPusher:
    """Pushes a published message into its priority list at its tenant's round."""

    def __init__(self, redis: Any, scan_limit: int = SCAN_LIMIT) -> None:
        self._push = redis.register_script(FAIR_PUSH_LUA)
        self.scan_limit = scan_limit

    def push(self, list_key: str, message: str, tenant: str, host_key: str = "") -> int:
        """Insert ``message`` of ``tenant``; returns how many messages are served before it.
        ``host_key``: the host's registry record, whose ``slots`` field is the quantum (requests
        per tenant per round); without one (or no such field) the quantum is 1."""
        keys = (list_key, host_key or list_key + ":no-host")
        return int(self._push(keys=keys, args=(message, tenant, self.scan_limit)))
