"""EmojiScenes rendering speed: scenes per second, single process, at several render sizes.

Usage::

    .venv/bin/python bench/render_speed.py                  # 20,015 scenes at 64 px, 5,000 at 128 px
    .venv/bin/python bench/render_speed.py --sizes 64 --n 2000

For each size it times (a) building the generator (catalogue parsing + rendering every glyph
once at 109 px) and (b) generating the scenes (sampling, rendering into the array, captions,
labels), as wall time and as this process's CPU time (the machine may be shared: the CPU rate is
what the process achieves when it has a core). Writes ``bench/results/render_speed/<out-name>.{json,md,png}``
(default out-name ``render_speed``) through :func:`distilhash.benchmark.results.write_results`.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "render_speed"


def measure(size: int, n: int, seed: int = 0) -> dict:
    """Time generator construction and the generation of ``n`` scenes at ``size`` px."""
    from distilhash.data.emoji_scenes import EmojiScenesConfig, EmojiScenesGenerator, generate
    from distilhash.data.emoji_sprites import clear_sprite_caches

    clear_sprite_caches()  # time the full setup, as a fresh process would

    config = EmojiScenesConfig(n_items=n, seed=seed, render_size=size)
    load0 = load_average()
    w0, c0 = time.perf_counter(), time.process_time()
    gen = EmojiScenesGenerator(config)
    w1, c1 = time.perf_counter(), time.process_time()
    ds = generate(config, progress=True, generator=gen)
    w2, c2 = time.perf_counter(), time.process_time()
    return {
        "render_size": size,
        "n_scenes": n,
        "setup_wall_s": round(w1 - w0, 3),
        "setup_cpu_s": round(c1 - c0, 3),
        "generate_wall_s": round(w2 - w1, 3),
        "generate_cpu_s": round(c2 - c1, 3),
        "scenes_per_s_wall": round(n / (w2 - w1), 1),
        "scenes_per_s_cpu": round(n / (c2 - c1), 1),
        "scenes_per_s_wall_incl_setup": round(n / (w2 - w0), 1),
        "n_labels": ds.num_labels,
        "catalogue_size": ds.meta["catalogue_size"],
        "objects_per_scene_mean": round(ds.meta["objects_per_scene_mean"], 3),
        "labels_per_item_mean": round(float(ds.labels.sum(1).mean()), 3),
        "load_before": load0,
        "load_after": load_average(),
    }


def write_report(rows: list[dict], prov: dict, name: str, wall: float) -> None:
    payload = {
        "provenance": prov,
        "dataset_note": "emoji-scenes (generator defaults, seed 0)",
        "wall_time_s": round(wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "results": rows,
    }
    lines = [
        "# EmojiScenes rendering speed",
        "",
        f"Peak RSS {payload['peak_rss_mb']} MB; the machine is shared (load averages per row).",
        "",
        "| render size | scenes | setup (s) | scenes/s (wall) | scenes/s (CPU) | scenes/s incl. setup | load avg (1 min) before/after |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['render_size']} px | {r['n_scenes']} | {r['setup_wall_s']} | {r['scenes_per_s_wall']} | "
            f"{r['scenes_per_s_cpu']} | {r['scenes_per_s_wall_incl_setup']} | "
            f"{r['load_before'][0]} / {r['load_after'][0]} |"
        )
    lines += [
        "",
        "Setup = parsing emoji-test.txt and the CLDR annotations and rendering every glyph once at "
        "109 px. Scenes/s (wall) is what a user sees on this shared machine; scenes/s (CPU) divides "
        "by this process's CPU time, i.e. the rate when it has a core to itself. The target is "
        ">= 500 scenes/s.",
        "",
        f"Catalogue: {rows[0]['catalogue_size']} emojis, {rows[0]['n_labels']} subgroup labels, "
        f"{rows[0]['objects_per_scene_mean']} objects and {rows[0]['labels_per_item_mean']} labels per scene on average.",
        "",
        f"![scenes per second]({name}.png)",
        "",
    ]
    paths = write_results(BENCH, name, payload, "\n".join(lines), plot=lambda path: _plot(rows, path), root=ROOT)
    print(f"wrote {paths['md']}")


def _plot(rows: list[dict], path: Path) -> None:
    with figure(path, figsize=(5.5, 3.5), dpi=120) as (fig, ax):
        labels = [f"{r['render_size']} px" for r in rows]
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], [r["scenes_per_s_wall"] for r in rows], width=0.4, label="wall (shared machine)")
        ax.bar([i + 0.2 for i in x], [r["scenes_per_s_cpu"] for r in rows], width=0.4, label="per CPU second")
        ax.axhline(500, color="red", linestyle="--", linewidth=1, label="target 500/s")
        ax.set_xticks(list(x), labels)
        ax.set_ylabel("scenes / s (single process)")
        ax.set_title("EmojiScenes generation speed")
        ax.legend(fontsize=8)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    p.add_argument("--n", type=int, nargs="+", default=[20015, 5000], help="scenes per size (last value repeats)")
    p.add_argument("--out-name", default=BENCH, help="result name under bench/results/render_speed/")
    args = p.parse_args(argv)
    prov = collect_provenance(BENCH, args.out_name, seeds=[0], model_selection="none: a timing benchmark, nothing is selected",
                              dataset="emoji-scenes", root=ROOT)
    t0 = time.perf_counter()
    rows = []
    for i, size in enumerate(args.sizes):
        n = args.n[min(i, len(args.n) - 1)]
        rows.append(measure(size, n))
        print(json.dumps(rows[-1]))
    write_report(rows, prov, args.out_name, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
