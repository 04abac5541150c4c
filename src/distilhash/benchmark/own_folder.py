"""A new user's own folder of real pictures outside the dataset, and twenty queries written down before any search
(17 pictures are among the wide teachers' fit pairs, :data:`IN_WIDE_PAIRS`; the 224-px teacher saw none).

Used by ``bench/own_folder_journey.py`` (the figures) and ``tests/test_journey_own_folder.py`` (the
journey in the default suite). :func:`build_folder` writes 49 files from Debian packages that
``scripts/setup.sh`` installs (``openclipart-png``, ``fonts-noto-color-emoji``):

* 34 openclipart drawings that the openclipart dataset filters out (unlabelled, or over a
  collection's cap), so no teacher fit saw them;
* 10 Noto colour emoji glyphs on white;
* 3 JPEGs of a drawing or glyph on a coloured backdrop;
* a corrupt and a truncated file (``data prepare folder`` must refuse both by name).

Captions are hand-written, labels 9 coarse ones. :data:`QUERIES` maps each query to the one file
it means; the list was fixed before any search and is never tuned.

    missing = missing_sources()          # [] when the Debian data is installed
    build_folder(Path("folder"))         # images + captions.jsonl
    ranks = query_ranks(image [n, D], ids, text [20, D])   # query -> rank of its picture (1 = first)
    text = journey_markdown(result)      # the bench script's stored result as tables
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OPENCLIPART_PNG", "EMOJI_FONT", "DRAWINGS", "EMOJI", "COMPOSED", "QUERIES", "BAD_FILES", "DEBIAN_PACKAGES",
           "IN_WIDE_PAIRS", "missing_sources", "build_folder", "query_ranks", "journey_markdown"]

OPENCLIPART_PNG = Path("/usr/share/openclipart/png")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
#: the Debian packages the folder is drawn from (scripts/debian-packages.txt)
DEBIAN_PACKAGES = ("openclipart-png", "fonts-noto-color-emoji")

DRAWINGS = {  # file under OPENCLIPART_PNG -> (caption, labels)
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
#: the two unreadable files, which ``data prepare folder`` must name
BAD_FILES = ("corrupt.jpg", "truncated.png")

#: query -> the file it means (drawingNN: the NN-th entry of DRAWINGS), fixed before any search
QUERIES = {"a duck": "drawing00.png", "a camel": "drawing20.png", "an elephant": "drawing06.png",
           "a light bulb": "drawing13.png", "a croissant": "drawing33.png", "a piggy bank": "drawing18.png",
           "a tent": "drawing25.png", "a penguin": "drawing27.png", "an ambulance": "drawing28.png", "a rose": "drawing04.png",
           "a horse": "emoji-1f434.png", "pizza": "emoji-1f355.png", "a bicycle": "emoji-1f6b2.png",
           "an umbrella": "emoji-2602.png", "a dinosaur": "drawing30.png", "a cow": "drawing21.png", "a sofa": "drawing10.png",
           "a television": "drawing11.png", "a guitar": "emoji-1f3b8.png", "a sheep": "drawing22.png"}

#: the folder's pictures that are among the pairs the wide teachers (``lite0-minilm-wide``'s default pair sources) fit
#: on, on grouped split 0: 10 drawings of ``openclipart-extra`` (the same Debian file; none of the 34 has a byte- or
#: pixel-identical twin kept elsewhere), 6 glyphs of ``emoji-fit`` (the umbrella as ``2602-fe0f``) and the JPEG of the
#: bicycle glyph. The 224-px teacher's ``openclipart-fit`` pairs hold none of the 47.
IN_WIDE_PAIRS = frozenset({"drawing10", "drawing12", "drawing13", "drawing14", "drawing15", "drawing16", "drawing19",
                           "drawing25", "drawing30", "drawing31", "emoji-1f355", "emoji-1f6b2", "emoji-2602",
                           "emoji-1f34c", "emoji-1f680", "emoji-1f333", "composed1"})


def missing_sources() -> list[str]:
    """The source files of the folder that are not on this machine ([] when the Debian packages are installed)."""
    wanted = [EMOJI_FONT, *(OPENCLIPART_PNG / rel for rel in DRAWINGS)]
    return [str(p) for p in wanted if not p.is_file()]


def _glyph(cp: str):
    """A Noto colour glyph on a transparent 160 px square (PIL RGBA)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(EMOJI_FONT), 109)
    im = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((80, 80), chr(int(cp, 16)), font=font, embedded_color=True, anchor="mm")
    return im


def _drawing(rel: str, side: int = 256):
    """An openclipart PNG as PIL RGBA, at most ``side`` px."""
    from PIL import Image

    im = Image.open(OPENCLIPART_PNG / rel).convert("RGBA")
    im.thumbnail((side, side))
    return im


def build_folder(out: Path) -> list[dict]:
    """Write the folder (49 image files + ``captions.jsonl``) into ``out``; returns the caption rows."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    rows = []
    for i, (rel, (cap, labels)) in enumerate(DRAWINGS.items()):
        name = f"drawing{i:02d}.png"
        _drawing(rel).save(out / name)
        rows.append({"image": name, "caption": cap, "labels": labels})
    for cp, (cap, labels) in EMOJI.items():
        name = f"emoji-{cp.lower()}.png"
        bg = Image.new("RGBA", (160, 160), (255, 255, 255, 255))
        bg.alpha_composite(_glyph(cp))
        bg.convert("RGB").save(out / name)
        rows.append({"image": name, "caption": cap, "labels": labels})
    for k, (src, colour, cap, labels) in enumerate(COMPOSED):
        fg = _glyph(src) if "/" not in src else _drawing(src, 200)
        bg = Image.new("RGBA", (320, 240), colour + (255,))
        bg.alpha_composite(fg, (rng.randint(10, 100), rng.randint(5, 40)))
        name = f"composed{k}.jpg"
        bg.convert("RGB").save(out / name, quality=88)
        rows.append({"image": name, "caption": cap, "labels": labels})
    (out / BAD_FILES[0]).write_bytes(b"this is not a jpeg at all\n" * 20)
    good = (out / "drawing00.png").read_bytes()
    (out / BAD_FILES[1]).write_bytes(good[: len(good) // 3])
    rows += [{"image": BAD_FILES[0], "caption": "a broken photo", "labels": ["household"]},
             {"image": BAD_FILES[1], "caption": "a photo cut short by a bad copy", "labels": ["animal"]}]
    (out / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def query_ranks(image: np.ndarray, ids: list[str], text: np.ndarray, leave_out: frozenset[str] = frozenset()) -> dict[str, int]:
    """Query -> rank (1 = first) of its picture among ``image`` ``[n, D]`` (rows named by ``ids``, the file stems),
    by cosine with ``text`` ``[len(QUERIES), D]`` (rows in :data:`QUERIES` order).

    ``leave_out``: stems dropped from the pictures (e.g. :data:`IN_WIDE_PAIRS`); queries meaning one of them are left out.
    """
    keep = np.array([i not in leave_out for i in ids], dtype=bool)
    ids = [i for i, k in zip(ids, keep) if k]
    scores = text @ image[keep].T
    out = {}
    for (query, want), row in zip(QUERIES.items(), scores):
        if Path(want).stem in leave_out:
            continue
        target = ids.index(Path(want).stem)
        out[query] = int((row > row[target]).sum()) + 1
    return out


def journey_markdown(r: dict[str, Any]) -> str:
    """The journey's result (``bench/own_folder_journey.py``): top-5 counts per ranking, then every query's ranks."""
    t = r["default_teacher"]
    lines = ["# Own folder: the intended picture in the top 5", "",
             f"{r['n_queries']} queries fixed before any search; 47 readable pictures (2 bad files refused: "
             f"{r['refused_bad_files']}); default teacher `{t}` ({r.get('default_teacher_copy', 'fitted in this home')}).", "",
             "| ranking | queries with their picture in the top 5 |", "|---|---|"]
    lines += [f"| float teacher `{spec}` | {n} of {r['n_queries']} |" for spec, n in r["float_top5"].items()]
    lines += [f"| DCMQ 64-bit index on `{t}` (trained on the folder) | {r['dcmq64_index_top5']} of {r['n_queries']} |", "",
              "| query | rank by " + " | rank by ".join(f"`{s}`" for s in r["float_ranks"]) + " | DCMQ top 5 |",
              "|---" * (2 + len(r["float_ranks"])) + "|"]
    for q in QUERIES:
        lines.append(f"| {q} | " + " | ".join(str(v[q]) for v in r["float_ranks"].values())
                     + f" | {'yes' if r['dcmq64_index_hit'][q] else 'no'} |")
    if "held_out" in r:  # results written before the held-out figures have none
        h = r["held_out"]
        n = len(next(iter(h["float_ranks"].values())))
        lines += ["", f"## Held out: {h['n_pictures']} pictures no teacher was fitted on, the {n} queries meaning one", "",
                  f"Left out (among the wide teachers' fit pairs): {', '.join(h['left_out'])}.", "",
                  "| float teacher | queries with their picture in the top 5 |", "|---|---|"]
        lines += [f"| `{spec}` | {k} of {n} |" for spec, k in h["float_top5"].items()]
    return "\n".join(lines) + "\n"
