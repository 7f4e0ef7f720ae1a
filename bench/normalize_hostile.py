"""CPU time of normalization on hostile texts: long runs of spaces, blank lines and list items
where the list pass (`normalize._LIST`) could try many ways to split them.

    python bench/normalize_hostile.py --chars 400000 1600000

Each text is normalized once alone (`normalize_measured`, the path a run takes) after a warm-up;
the script prints the characters and CPU seconds per case. Linear patterns give seconds that
grow with the characters and stay far under a second per million; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from dedup.normalize import normalize_measured

CASES: dict[str, Callable[[int], str]] = {
    "a line of spaces among items": lambda n: "1998年a\n" + " " * n + "\n1998年b\n1998年c\n1998年d",
    "spaces before a line no item": lambda n: "· a\n· b\n" + " " * n + "1998年x\n· c",
    "blank lines, then no item": lambda n: "· a\n· b\n" + " \n" * (n // 2) + "1998年x\n· c",
    "spaces after an item": lambda n: "· a\n· b" + " " * n + "\n1998年x\n· c",
    "spaces after a dated item": lambda n: "· a\n· b 07-26" + " " * n + "\n1998年x\n· c",
    "bullets of spaces": lambda n: ("· " + " " * 70 + "\n") * (n // 73),
    "list items": lambda n: "· 标题（07-26）\n" * (n // 12),
    "lines that start with digits": lambda n: "1998年，甲。\n" * (n // 9),
}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chars", type=int, nargs="+", default=[400_000, 1_600_000])
    args = ap.parse_args(argv)
    normalize_measured(["· a\n· b\n· c"])  # compiled functions loaded
    print(f"{'case':<32}{'chars':>12}{'CPU s':>9}")
    for name, make in CASES.items():
        for n in args.chars:
            text = make(n)
            start = time.process_time()
            normalize_measured([text])
            print(f"{name:<32}{len(text):>12,}{time.process_time() - start:>9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
