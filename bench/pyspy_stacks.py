"""Summarise a py-spy raw profile of a server process: samples per service function, and what an add / delete spent.

    python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy
    /tmp/pyspy/bin/py-spy record -p PID -d 30 -r 100 --threads --nonblocking -f raw -o profile.txt
    python bench/pyspy_stacks.py profile.txt

Each raw line is ``frame;frame;...;leaf COUNT`` (root first). A sample is credited to the first
service function of :data:`GROUPS` on its stack (else to its two innermost frames); for the add and
delete the next two frames below them are broken down as well.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

GROUPS = ("ItemsMixin.add_item", "ItemsMixin.delete_item", "_run_text_batch", "submit_text", "ItemsMixin.similar", "get_item")
BROKEN_DOWN = ("ItemsMixin.add_item", "ItemsMixin.delete_item")


def summarise(lines: list[str], top: int = 14) -> str:
    """The summary text of raw py-spy lines."""
    total = 0
    groups: Counter = Counter()
    below: dict[str, Counter] = defaultdict(Counter)
    for line in lines:
        if not line.strip():
            continue
        stack, n_text = line.rsplit(" ", 1)
        n = int(n_text)
        total += n
        frames = [f.split(" (")[0] for f in stack.split(";")]
        for name in GROUPS:
            at = next((i for i, f in enumerate(frames) if f.endswith(name)), None)
            if at is not None:
                groups[name] += n
                below[name][" > ".join(frames[at + 1 : at + 3])] += n
                break
        else:
            groups["other: " + " > ".join(frames[-2:])[:90]] += n
    out = [f"samples {total}"]
    out += [f"{v:6d} {100 * v / total:5.1f}% {k}" for k, v in groups.most_common(top)]
    for name in BROKEN_DOWN:
        out.append(f"--- {name}")
        out += [f"{v:6d} {100 * v / total:5.1f}% {k}" for k, v in below[name].most_common(12)]
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python bench/pyspy_stacks.py PROFILE.txt (py-spy record -f raw)")
    with open(sys.argv[1]) as fh:
        print(summarise(fh.readlines()))
