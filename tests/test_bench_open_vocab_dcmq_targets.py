"""bench/open_vocab_dcmq_targets.py: the table's title states the code length of the runs it lists."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "open_vocab_dcmq_targets.py"


def _script():
    spec = importlib.util.spec_from_file_location("open_vocab_dcmq_targets", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _result(*bits):
    dom = {"p_at": 0.1, "p_at_std": 0.0, "p_at_vs_teacher": 1.0, "p_at_vs_teacher_std": 0.0, "map_all": 0.2,
           "map_all_std": 0.0, "map_all_vs_teacher": 1.0, "map_all_vs_teacher_std": 0.0, "teacher_p_at": 0.1,
           "teacher_map_all": 0.2}
    row = {"runs": [{"n_bits": b} for b in bits], "n_seeds": len(bits), "openclipart": dom, "emoji": dom,
           "label_map_query": {"i2t": (0.4, 0.0), "t2i": (0.5, 0.0)}}
    return {"teacher": "t", "rows": {"a": row}}


def test_title_takes_the_code_length_from_the_runs():
    mod = _script()
    assert mod.markdown(_result(32, 32)).startswith("# DCMQ 32-bit codes")
    assert mod.markdown(_result(64, 16)).startswith("# DCMQ 16- and 64-bit codes")
    assert mod.code_lengths(_result(16, 64, 32)) == "16-, 32- and 64-bit"


def test_table_shows_the_label_free_validation_score_and_kept_epochs():
    mod = _script()
    r = _result(64, 64)
    r["rows"]["a"]["runs"] = [{"n_bits": 64, "kept_epoch": 3}, {"n_bits": 64, "kept_epoch": 12}]
    r["rows"]["a"]["val_teacher_top10"] = (0.412, 0.01)
    line = next(x for x in mod.markdown(r).splitlines() if x.startswith("| a |"))
    assert line.endswith("| 0.412 +- 0.010 | 3, 12 |")
    assert next(x for x in mod.markdown(_result(64)).splitlines() if x.startswith("| a |")).endswith("| - | - |")
