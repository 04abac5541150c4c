"""``engine="ray"`` service on a real two-node cluster (two raylets on this host, token auth), 4
shards x 2 replicas, HTTP clients searching while every process of node 1 is SIGKILLed by PID:
no failed request 2 s after the kill, no answer missing a shard without saying so, and no deleted
item returned by the searches right after a delete (slow suite: `make test-slow`)."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from distilhash.distributed.serve_failover import run_trial  # noqa: E402

pytestmark = pytest.mark.slow


def test_service_survives_a_node_loss_without_failed_or_silent_partial_answers(tmp_path):
    r = run_trial(tmp_path, clients=8, seconds=12.0, kill_at=4.0, n_items=4000, replicas=2, grace=2.0)
    assert r["killed_pids"] and r["after_kill_requests"] > 20, r
    assert r["failed_after_grace"] == 0, r
    assert r["silent_wrong"] == 0, r
    assert r["deleted"] > 0 and r["stale"] == 0 and r["partial_after_delete"] == 0, r
