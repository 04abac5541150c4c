"""A Ray extraction's parts on disk: a worker that wakes up after its extraction finished (its node froze,
was declared dead, its parts were redone elsewhere) writes nothing into the finished cache."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.distributed.shard_cache import ShardPlan, commit_part, discard_parts, part_done, write_part
from distilhash.errors import FeatureError


def _plan(out) -> ShardPlan:
    return ShardPlan(out, {"count": 4, "dataset": "toy"}, width=3, arrays=["image"], part_size=2)


def _rows() -> dict[str, np.ndarray]:
    return {"image": np.eye(3, dtype=np.float32)[[0, 1]]}


def test_a_late_worker_writes_nothing_once_the_parts_are_discarded(tmp_path):
    plan = _plan(tmp_path / "cache")
    plan.open(overwrite=False)
    commit_part(plan, 0, write_part(plan, 0, _rows(), {}, commit=False))
    assert part_done(plan, 0)
    discard_parts(plan)  # the cache is finished
    assert not plan.directory.exists()
    with pytest.raises(FeatureError, match="no longer holds this extraction's plan"):
        write_part(plan, 1, _rows(), {}, commit=False)  # the woken worker's part
    assert not plan.directory.exists()  # before: shards/part-00001/ with its arrays and a pending manifest


def test_a_late_worker_of_another_plan_writes_nothing(tmp_path):
    old = _plan(tmp_path / "cache")
    old.open(overwrite=False)
    new = ShardPlan(tmp_path / "cache", {"count": 4, "dataset": "other"}, width=3, arrays=["image"], part_size=2)
    new.open(overwrite=True)  # --overwrite replaced the unfinished extraction
    with pytest.raises(FeatureError, match="another replaced it"):
        write_part(old, 0, _rows(), {}, commit=False)
    assert not old.part_dir(0).exists()
    commit_part(new, 0, write_part(new, 0, _rows(), {}, commit=False))
    assert part_done(new, 0)


def test_ctrl_c_says_which_parts_are_kept(tmp_path, capsys):
    """The driver stopped by Ctrl-C ended with exit status 130 and no word about its finished parts."""
    from types import SimpleNamespace

    from distilhash.distributed.extract import _run_parts

    plan = _plan(tmp_path / "cache")
    plan.open(overwrite=False)
    commit_part(plan, 0, write_part(plan, 0, _rows(), {}, commit=False))  # done by an earlier run

    def run(parts, on_result):
        on_result(1, (1, write_part(plan, 1, _rows(), {}, commit=False)))
        raise KeyboardInterrupt

    pool = SimpleNamespace(fit=SimpleNamespace(workers=2), run=run, pids=lambda: [])
    with pytest.raises(KeyboardInterrupt):
        _run_parts(pool, plan, [1], progress=True, stop_after=None, on_part=None, ds_name="toy", spec="toy")
    err = capsys.readouterr().err
    assert f"interrupted: 2 of 2 parts are kept, checksummed, in {plan.directory}; rerun the same command" in err
