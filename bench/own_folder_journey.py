"""A new user's own folder, end to end: does the intended picture come back in the top 5?

    DISTILHASH_HOME=... python bench/own_folder_journey.py [--name own_folder]

Builds a folder of 49 files nobody fitted on (34 openclipart drawings that the openclipart dataset
filters out as unlabelled or over a collection's cap, 10 Noto emoji glyphs, 3 JPEGs of a drawing or
glyph on a coloured backdrop, a corrupt and a truncated file) with hand-written captions and 9
coarse labels, then runs docs/own-collection.md's commands through the CLI: ``data prepare folder``
(first as is, which must refuse the two bad files, then with ``--opt drop_missing_images=true``),
``teacher extract`` without ``--teacher``, ``train dcmq --bits 64``, ``index build``, ``search``.
Twenty queries, each with the one picture it means (:data:`QUERIES`), were written down before any
search. Figures: for each query, the rank of its picture among the folder's 47 pictures by the float
teacher (the default one, and ``lite0-prior`` / ``minilm-lit`` for comparison) and whether it is in
the DCMQ index's top 5. Needs the demo's teacher fitted in this ``DISTILHASH_HOME`` (``make demo``).
Writes ``bench/results/own_folder_journey/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

OC = Path("/usr/share/openclipart/png")
DRAWINGS = {  # file -> (caption, labels)
 "unsorted/Anatra.png": ("a yellow duck", ["animal"]),
 "unsorted/biberon.png": ("baby bottle with milk", ["household"]),
 "unsorted/igloo.png": ("an igloo made of snow blocks", ["building"]),
 "unsorted/motosega.png": ("chainsaw", ["tool"]),
 "unsorted/rosa1.png": ("a red rose", ["plant"]),
 "unsorted/scissors_RPSWB.png": ("a hand showing the scissors sign", ["tool"]),
 "unsorted/elefantone.png": ("big grey elephant", ["animal"]),
 "unsorted/carretta_da_cantiere.png": ("wheelbarrow from the building site", ["tool"]),
 "unsorted/asse_da_stiro.png": ("ironing board", ["household"]),
 "unsorted/zaino_per_montagna.png": ("hiking backpack", ["household"]),
 "buildings/furniture/soft_blue_couch_jonadab_01.png": ("blue sofa", ["household"]),
 "buildings/furniture/television_peterm_.png": ("old television set", ["electronics"]),
 "buttons/shopping_cart_mimooh_01.png": ("shopping trolley icon", ["household"]),
 "electronics/bulb/lightbulb_jon_phillips_01.png": ("light bulb", ["electronics"]),
 "electronics/battery/battery_01.png": ("a battery", ["electronics"]),
 "office/telephone/sprint_cell_phone_joel_r.png": ("my mobile phone", ["electronics"]),
 "science/microscopio_architetto_f_01.png": ("microscope", ["tool"]),
 "signs_and_symbols/awards/trophy.png": ("golden trophy cup", ["money"]),
 "signs_and_symbols/money/piggybank.png": ("piggy bank", ["money"]),
 "signs_and_symbols/money/gold_coins_in_a_stack_jo_01.png": ("stack of gold coins", ["money"]),
 "unsorted/cammello.png": ("camel in the desert", ["animal"]),
 "unsorted/mucca.png": ("cow", ["animal"]),
 "unsorted/pecorella.png": ("little sheep", ["animal"]),
 "unsorted/struzzo.png": ("ostrich", ["animal"]),
 "unsorted/candela.png": ("a burning candle", ["household"]),
 "unsorted/tenda_da_campeggio_archi_01.png": ("camping tent", ["household"]),
 "unsorted/pescetto.png": ("small fish", ["animal"]),
 "unsorted/Pinguino1.png": ("penguin", ["animal"]),
 "unsorted/ambulanza.png": ("ambulance", ["vehicle"]),
 "unsorted/betoniera.png": ("cement mixer truck", ["vehicle"]),
 "animals/dinosaurs/dino_architetto_francesc_01.png": ("blue dinosaur", ["animal"]),
 "food/vegetables/ravanello_architetto_fra_01.png": ("radish", ["food"]),
 "unsorted/tramezzino.png": ("sandwich", ["food"]),
 "unsorted/Cornetto.png": ("croissant for breakfast", ["food"]),
}
EMOJI = {  # codepoint -> (caption, labels)
 "1F434": ("horse head", ["animal"]), "1F355": ("slice of pizza", ["food"]), "1F6B2": ("bicycle", ["vehicle"]),
 "2602": ("umbrella", ["household"]), "1F3B8": ("electric guitar", ["household"]), "23F0": ("alarm clock", ["household"]),
 "1F415": ("dog", ["animal"]), "1F34C": ("banana", ["food"]), "1F680": ("rocket", ["vehicle"]), "1F333": ("a tree", ["plant"]),
}
COMPOSED = [("unsorted/mucca.png", (120, 180, 90), "cow standing in a green field", ["animal"]),
            ("1F6B2", (140, 190, 235), "a bike under a blue sky", ["vehicle"]),
            ("unsorted/Anatra.png", (90, 140, 200), "a duck on the water", ["animal"])]
EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"


def glyph(cp: str) -> Image.Image:
    """A Noto colour glyph on a transparent 160 px square."""
    font = ImageFont.truetype(EMOJI_FONT, 109)
    im = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((80, 80), chr(int(cp, 16)), font=font, embedded_color=True, anchor="mm")
    return im

def drawing(rel: str, side: int = 256) -> Image.Image:
    """An openclipart PNG, at most ``side`` px."""
    im = Image.open(OC / rel).convert("RGBA")
    im.thumbnail((side, side))
    return im


QUERIES = {"a duck": "drawing00.png", "a camel": "drawing20.png", "an elephant": "drawing06.png",
           "a light bulb": "drawing13.png", "a croissant": "drawing33.png", "a piggy bank": "drawing18.png",
           "a tent": "drawing25.png", "a penguin": "drawing27.png", "an ambulance": "drawing28.png", "a rose": "drawing04.png",
           "a horse": "emoji-1f434.png", "pizza": "emoji-1f355.png", "a bicycle": "emoji-1f6b2.png",
           "an umbrella": "emoji-2602.png", "a dinosaur": "drawing30.png", "a cow": "drawing21.png", "a sofa": "drawing10.png",
           "a television": "drawing11.png", "a guitar": "emoji-1f3b8.png", "a sheep": "drawing22.png"}


def build_folder(out: Path) -> list[dict]:
    """Write the folder (images + captions.jsonl) into ``out``; returns the caption rows."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    rows = []
    for i, (rel, (cap, labels)) in enumerate(DRAWINGS.items()):
        name = f"drawing{i:02d}.png"; drawing(rel).save(out / name); rows.append({"image": name, "caption": cap, "labels": labels})
    for cp, (cap, labels) in EMOJI.items():
        name = f"emoji-{cp.lower()}.png"
        bg = Image.new("RGBA", (160, 160), (255, 255, 255, 255)); bg.alpha_composite(glyph(cp)); bg.convert("RGB").save(out / name)
        rows.append({"image": name, "caption": cap, "labels": labels})
    for k, (src, colour, cap, labels) in enumerate(COMPOSED):
        fg = glyph(src) if "/" not in src else drawing(src, 200)
        bg = Image.new("RGBA", (320, 240), colour + (255,)); bg.alpha_composite(fg, (rng.randint(10, 100), rng.randint(5, 40)))
        name = f"composed{k}.jpg"; bg.convert("RGB").save(out / name, quality=88); rows.append({"image": name, "caption": cap, "labels": labels})
    (out / "corrupt.jpg").write_bytes(b"this is not a jpeg at all\n" * 20)
    good = (out / "drawing00.png").read_bytes(); (out / "truncated.png").write_bytes(good[: len(good) // 3])
    rows += [{"image": "corrupt.jpg", "caption": "a broken photo", "labels": ["household"]},
             {"image": "truncated.png", "caption": "a photo cut short by a bad copy", "labels": ["animal"]}]
    (out / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def dh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``distilhash ARGS`` in a child process, as a user types it."""
    res = subprocess.run([sys.executable, "-m", "distilhash.cli.main", *args], capture_output=True, text=True)
    if check and res.returncode != 0:
        raise SystemExit(f"distilhash {' '.join(args)} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    return res


def float_ranks(spec: str, dataset: str) -> dict[str, int]:
    """Query -> rank (1-based) of its picture among the prepared folder's pictures, by the float teacher ``spec``."""
    from distilhash.data.store import open_prepared
    from distilhash.teachers.registry import create_teacher

    ds, _ = open_prepared(dataset)
    t = create_teacher(spec)
    rows = list(range(len(ds)))
    z = t.encode_dataset_images(ds, rows) if t.capabilities.dataset_images else t.encode_images(ds.images.array(rows, 128))
    s = t.encode_texts(list(QUERIES)) @ z.T
    out = {}
    for (query, want), row in zip(QUERIES.items(), s):
        target = ds.ids.index(Path(want).stem)
        out[query] = int((row > row[target]).sum()) + 1
    return out


def main(argv: list[str] | None = None) -> None:
    from distilhash.paths import home

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--name", default="own_folder")
    a = p.parse_args(argv)
    prov = collect_provenance("own_folder_journey", a.name, dataset="own folder (openclipart drawings outside the "
                              "dataset, Noto glyphs)", seeds=[0], model_selection="DCMQ epoch on the folder's split.val; "
                              "queries fixed before any search")
    work = home() / "own_folder_journey"
    folder = work / "folder"
    if not (folder / "captions.jsonl").is_file():
        build_folder(folder)
    refused = dh("data", "prepare", "folder", "--path", str(folder), "--name", a.name, check=False)
    dh("data", "prepare", "folder", "--path", str(folder), "--name", a.name, "--opt", "drop_missing_images=true")
    extract = dh("teacher", "extract", "--dataset", a.name).stdout
    teacher = extract.split("teacher: ", 1)[1].split(" ", 1)[0] if "teacher: " in extract else "?"
    model, index = work / "runs" / f"{a.name}-dcmq64", work / "ix" / a.name
    if not (model / "method.json").is_file():
        dh("train", "dcmq", "--dataset", a.name, "--bits", "64", "--out", str(model), "--no-progress")
    if not (index / "manifest.json").is_file():
        dh("index", "build", str(index), "--model", str(model), "--dataset", a.name)
    found = json.loads(dh("search", str(index), *[x for q in QUERIES for x in ("--text", q)], "-k", "5", "--json").stdout)
    index_top5 = {r["query"]: Path(QUERIES[r["query"]]).stem in [h["id"] for h in r["results"]] for r in found}
    ranks = {spec: float_ranks(spec, a.name) for spec in dict.fromkeys([teacher, "lite0-prior", "minilm-lit"])}
    result: dict[str, Any] = {
        "provenance": prov, "default_teacher": teacher, "n_queries": len(QUERIES),
        "refused_bad_files": refused.returncode != 0 and "corrupt.jpg" in refused.stderr + refused.stdout,
        "float_top5": {spec: int(sum(r <= 5 for r in v.values())) for spec, v in ranks.items()},
        "dcmq64_index_top5": int(sum(index_top5.values())), "float_ranks": ranks, "dcmq64_index_hit": index_top5,
    }
    write_results("own_folder_journey", a.name, result, markdown(result))
    print(json.dumps({k: result[k] for k in ("default_teacher", "refused_bad_files", "float_top5", "dcmq64_index_top5")}))


def markdown(r: dict[str, Any]) -> str:
    t = r["default_teacher"]
    lines = ["# Own folder: the intended picture in the top 5", "",
             f"{r['n_queries']} queries fixed before any search; 47 readable pictures (2 bad files refused: "
             f"{r['refused_bad_files']}); default teacher `{t}`.", "",
             "| ranking | queries with their picture in the top 5 |", "|---|---|"]
    lines += [f"| float teacher `{spec}` | {n} of {r['n_queries']} |" for spec, n in r["float_top5"].items()]
    lines += [f"| DCMQ 64-bit index on `{t}` (trained on the folder) | {r['dcmq64_index_top5']} of {r['n_queries']} |", "",
              "| query | rank by " + " | rank by ".join(f"`{s}`" for s in r["float_ranks"]) + " | DCMQ top 5 |",
              "|---" * (2 + len(r["float_ranks"])) + "|"]
    for q in QUERIES:
        lines.append(f"| {q} | " + " | ".join(str(v[q]) for v in r["float_ranks"].values())
                     + f" | {'yes' if r['dcmq64_index_hit'][q] else 'no'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
