"""An OUTDIR laid out as a large run, for timing `dedup serve` at 100,000 clusters.

    python bench/serve_scale.py --texts OUT/kept.jsonl --clusters 100000 --out BIG
    python bench/serve_bench.py BIG --rebuild

Running dedup on a corpus that large takes long on a small machine; the server only reads the
run's files, so this writes them directly: N clusters of 2-4 documents (800-character windows
of the given texts, each member with a few characters replaced), 3 documents in no cluster per
cluster, kept.jsonl / removed.jsonl / clusters.jsonl in the run's formats, and the summary.json
of the run the texts come from (seeded: the same arguments give the same files).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--texts", type=Path, required=True, help="kept.jsonl of a finished run.")
    ap.add_argument("--clusters", type=int, default=100_000)
    ap.add_argument(
        "--singletons", type=int, default=3, help="Documents in no cluster, per cluster."
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    texts = []
    with args.texts.open(encoding="utf-8") as f:
        for line in f:
            text = json.loads(line).get("text")
            if isinstance(text, str) and len(text) > 900:
                texts.append(text)
            if len(texts) >= 20_000:
                break

    def window() -> str:
        t = rng.choice(texts)
        at = rng.randrange(len(t) - 800)
        return t[at : at + 800]

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with (
        (out / "kept.jsonl").open("w", encoding="utf-8") as kept,
        (out / "removed.jsonl").open("w", encoding="utf-8") as removed,
        (out / "clusters.jsonl").open("w", encoding="utf-8") as clusters,
    ):
        for c in range(args.clusters):
            base = window()
            ids = [f"doc-{c}-{k}" for k in range(rng.choice((2, 2, 2, 3, 3, 4)))]
            members = [{"id": ids[0], "jaccard": 1.0, "containment": 1.0}]
            kept.write(json.dumps({"id": ids[0], "text": base}, ensure_ascii=False) + "\n")
            for doc_id in ids[1:]:
                cut = rng.randrange(50, 750)
                text = base[:cut] + "本文来源" + base[cut + 5 :]
                jaccard = round(rng.uniform(0.5, 1.0), 6)
                members.append(
                    {"id": doc_id, "jaccard": jaccard, "containment": min(1.0, jaccard + 0.1)}
                )
                record = {"id": doc_id, "text": text, "duplicate_of": ids[0], "cluster": c}
                removed.write(json.dumps(record, ensure_ascii=False) + "\n")
            line = {"cluster": c, "representative": ids[0], "members": members}
            clusters.write(json.dumps(line) + "\n")
            for s in range(args.singletons):
                record = {"id": f"single-{c}-{s}", "text": window()}
                kept.write(json.dumps(record, ensure_ascii=False) + "\n")
    summary = (args.texts.parent / "summary.json").read_text("utf-8")
    (out / "summary.json").write_text(summary, encoding="utf-8")
    print(f"{out}: {args.clusters:,} clusters")


if __name__ == "__main__":
    main()
