"""Graph JSON ``$batch``: up to 20 calls per HTTP request, only the failed ones retried.

Rules kept (Graph's json-batching concept page):

- at most 20 requests per batch, ids unique in the batch, URLs relative (``/users/…``);
- any request with a body carries a ``Content-Type`` header; a body-less POST sends ``{}``;
- the outer answer is 200 even when inner requests fail, and inner answers come back in any order:
  they are matched by id;
- each inner answer may be ``429`` with its own ``Retry-After``: only those requests are sent again,
  after the longest such wait;
- a batch should be fully parallel or fully sequential: when any call in a chunk depends on another
  in the same chunk, the whole chunk is chained in order with ``dependsOn``. A request whose
  dependency failed answers ``424``; it is sent again once the dependency is settled, unless the
  dependency failed for good, in which case it fails with the dependency's error.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Sequence

from connectors.graph_http import Call, GraphHttp, Reply, graph_error
from workflows.directory import DirectoryError

log = logging.getLogger(__name__)

MAX_BATCH = 20


def with_ids(calls: Sequence[Call]) -> list[Call]:
    """The calls with batch ids: kept when given (and unique), else their position."""
    seen: set[str] = set()
    out = []
    for n, call in enumerate(calls, 1):
        cid = call.id or str(n)
        if cid.lower() in seen:
            raise ValueError(f"duplicate $batch id {cid!r}")
        if any(dep.lower() not in seen for dep in call.depends_on):
            raise ValueError(f"$batch id {cid!r} depends on a call that is not before it")
        seen.add(cid.lower())
        out.append(replace(call, id=cid))
    return out


def _wire(call: Call, after: str | None) -> dict:
    item = {"id": call.id, "method": call.method, "url": call.url}
    body = call.body if call.body is not None or call.method not in ("POST", "PUT", "PATCH") else {}
    if body is not None:
        item["body"] = body
        item["headers"] = {"Content-Type": "application/json"}
    if after:
        item["dependsOn"] = [after]
    return item


def _payload(chunk: list[Call], pending_ids: set[str]) -> dict:
    """Fully parallel unless some call depends on another call of this chunk: then chained in order."""
    in_chunk = {c.id for c in chunk}
    chained = any(dep in in_chunk and dep in pending_ids for c in chunk for dep in c.depends_on)
    items, previous = [], None
    for call in chunk:
        items.append(_wire(call, previous if chained else None))
        previous = call.id
    return {"requests": items}


class BatchRun:
    """One batch of calls through to a result per call (or the first error, after all are settled)."""

    def __init__(self, http: GraphHttp, calls: Sequence[Call]):
        self.http = http
        self.calls = with_ids(calls)
        self.by_id = {c.id: c for c in self.calls}
        self.results: dict[str, Reply] = {}
        self.errors: dict[str, DirectoryError] = {}
        self.attempts: dict[str, int] = {c.id: 0 for c in self.calls}

    def run(self) -> list[Reply]:
        pending = list(self.calls)
        while pending:
            chunk = pending[:MAX_BATCH]
            answers, chained = self._send(chunk, {c.id for c in pending})
            retry, waits = self._settle(chunk, answers, chained)
            pending = retry + pending[MAX_BATCH:]
            if retry:
                wait = max(waits) if waits else 0.0
                log.warning("graph $batch: %d of %d requests to send again in %.1fs", len(retry), len(chunk), wait)
                if wait:
                    self.http.sleep(wait)
        for call in self.calls:
            if call.id in self.errors:
                raise self.errors[call.id]
        return [self.results[c.id] for c in self.calls]

    def _send(self, chunk: list[Call], pending_ids: set[str]) -> tuple[dict[str, Reply], set[str]]:
        """The inner answers by id, and the ids that were sent with a ``dependsOn``."""
        payload = _payload(chunk, pending_ids)
        secrets = tuple(r for c in chunk for r in c.redact)
        outer = self.http.send(Call("POST", "/$batch", payload, redact=secrets))
        answers = {}
        for item in (outer.body or {}).get("responses") or []:
            answers[str(item.get("id"))] = Reply(int(item.get("status", 0)), item.get("body"),
                                                 dict(item.get("headers") or {}))
        return answers, {item["id"] for item in payload["requests"] if item.get("dependsOn")}

    def _settle(self, chunk: list[Call], answers: dict[str, Reply],
                chained: set[str]) -> tuple[list[Call], list[float]]:
        retry: list[Call] = []
        waits: list[float] = []
        failed_dependency = []
        for call in chunk:
            reply = answers.get(call.id, Reply(504))  # a missing inner answer: treat as gateway timeout
            if reply.status == 424 and call.id in chained:   # a 424 without dependsOn is an error like any
                failed_dependency.append(call)
                continue
            wait = self._outcome(call, reply)
            if wait is not None:
                retry.append(call)
                waits.append(wait)
        for call in failed_dependency:  # after the others, so their dependencies are settled
            broken = [d for d in call.depends_on if d in self.errors]
            if broken:
                self.errors[call.id] = self.errors[broken[0]]
            else:
                retry.append(self._without_settled(call))
        order = {c.id: n for n, c in enumerate(self.calls)}
        retry = [self._without_settled(c) for c in retry]
        return sorted(retry, key=lambda c: order[c.id]), waits

    def _outcome(self, call: Call, reply: Reply) -> float | None:
        """Record a settled answer; or return how long to wait before sending the call again."""
        if reply.ok or call.accepts(reply.status, reply.code):
            self.results[call.id] = reply
            return None
        self.attempts[call.id] += 1
        wait = self.http.retry_wait(call, reply, self.attempts[call.id])
        if wait is None:
            self.errors[call.id] = graph_error(call, reply)
        return wait

    def _without_settled(self, call: Call) -> Call:
        """Dependencies already answered are dropped: their ids will not be in the next batch."""
        keep = tuple(d for d in call.depends_on if d not in self.results and d not in self.errors)
        return replace(call, depends_on=keep)


def run_batch(http: GraphHttp, calls: Sequence[Call]) -> list[Reply]:
    """Send ``calls`` in as few ``$batch`` round trips as Graph allows; replies in call order."""
    return BatchRun(http, calls).run()
