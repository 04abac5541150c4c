"""Label names of the published benchmarks (the ``.mat`` files carry only the label matrix).

Orders as used by the public cross-modal hashing code: MIRFlickr-25K's 24 and NUS-WIDE's 21
concepts alphabetically (the order of the annotation files), MS-COCO's 80 categories in
category-id order. A file whose columns follow another order needs ``label_names=FILE``.
"""

from __future__ import annotations

from pathlib import Path

from distilhash.errors import DataError
from distilhash.io_utils import read_utf8_text

__all__ = ["KNOWN_LABEL_NAMES", "resolve_label_names"]

KNOWN_LABEL_NAMES: dict[str, list[str]] = {
    "mirflickr25k": (
        "animals baby bird car clouds dog female flower food indoor lake male night people plant_life "
        "portrait river sea sky structures sunset transport tree water"
    ).split(),
    "nuswide21": (
        "animal beach buildings clouds flowers grass lake mountain ocean person plants reflection road "
        "rocks sky snow sunset tree vehicle water window"
    ).split(),
    "mscoco": [
        "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
        "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
        "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
        "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
        "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
        "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
        "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
        "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
        "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
        "teddy bear", "hair drier", "toothbrush",
    ],
}


def resolve_label_names(spec: object, n_labels: int, where: str) -> tuple[list[str], str]:
    """Turn a ``label_names`` option into ``n_labels`` names, and say where they came from.

    Args:
        spec: None (generic ``label0..``), a known benchmark name (``mirflickr25k``, ``nuswide21``,
            ``mscoco``), a path to a text file (one name per line), a comma-separated string, or a list.
        n_labels: C, the number of label columns found in the files.
        where: the file/key the labels came from (for error messages).
    """
    if spec is None or spec == "":
        return [f"label{j}" for j in range(n_labels)], "generic (no label_names given)"
    if isinstance(spec, (list, tuple)):
        names, origin = [str(s) for s in spec], "given list"
    elif str(spec) in KNOWN_LABEL_NAMES:
        names, origin = list(KNOWN_LABEL_NAMES[str(spec)]), f"known list {spec}"
    elif Path(str(spec)).is_file():
        lines = read_utf8_text(Path(str(spec))).splitlines()
        names, origin = [ln.strip() for ln in lines if ln.strip()], f"file {spec}"
    elif "," in str(spec):
        names, origin = [s.strip() for s in str(spec).split(",")], "given list"
    else:
        raise DataError(
            f"label_names={spec!r} is neither a known list ({', '.join(KNOWN_LABEL_NAMES)}), "
            f"an existing file (one name per line) nor a comma-separated list"
        )
    if len(names) != n_labels:
        raise DataError(
            f"label_names ({origin}) has {len(names)} names but {where} has {n_labels} label columns"
        )
    if len(set(names)) != len(names):
        raise DataError(f"label_names ({origin}) repeats names")
    return names, origin
