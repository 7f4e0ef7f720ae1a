"""Other near-duplicate tools run their usual fast way on a JSONL corpus, for crawl_speed.py.

    python bench/peers.py NAME CORPUS.jsonl WORKDIR     # NAME: naive, datasketch, rensa, datatrove

Each peer does what dedup does up to the decision: MinHash over character 5-grams of the raw
text (128 permutations), LSH at a Jaccard threshold of 0.7, and groups documents by the LSH
hits. It writes WORKDIR/result.json: documents, candidate pairs (LSH hits, each pair once),
documents removed (all but one of each group), and seconds spent inside the peer (reading
included). crawl_speed.py runs this script as a subprocess and measures wall time and the
memory of the process tree around it; text-dedup runs in a virtualenv of its own (its command
is built by `text_dedup_commands`).

- `naive`: datasketch `MinHash.update` once per 5-gram, then MinHashLSH (the way one writes it
  first), meant for a sample;
- `datasketch`: `MinHash.bulk` (its batched hashing) and `MinHashLSH` with an insertion session;
- `rensa`: `RMinHash.update` on the list of 5-grams and `RMinHashLSH` (16 bands of 8 rows);
- `datatrove`: the four MinHash stages (signatures, buckets, clusters, filter) with the local
  executor, 2 tasks and 2 workers for the signatures, 5-grams of characters (a character
  tokenizer in place of its word tokenizer, which has none for Chinese).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

NGRAM = 5
NUM_PERM = 128
THRESHOLD = 0.7
PEERS = ("naive", "datasketch", "rensa", "datatrove")
# What `pip install` needs for each peer (none of them is a dependency of dedup).
PACKAGES = {
    "naive": "datasketch",
    "datasketch": "datasketch",
    "rensa": "rensa",
    "datatrove": "datatrove tokenizers",
    "text-dedup": "text-dedup (in a virtualenv of its own)",
}


def read_texts(corpus: Path) -> Iterator[tuple[str, str]]:
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            yield str(d["id"]), str(d["text"])


def shingles(text: str) -> set[str]:
    return {text[i : i + NGRAM] for i in range(max(1, len(text) - NGRAM + 1))}


class Groups:
    """Union-find over document numbers, to count what a peer would remove."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def removed(self) -> int:
        return sum(self.find(i) != i for i in range(len(self.parent)))


def _query_all(n: int, query: Callable[[int], list[int]]) -> tuple[int, int]:
    """(candidate pairs, documents removed) from each document's LSH hits."""
    groups = Groups(n)
    pairs = 0
    for i in range(n):
        for j in query(i):
            j = int(j)
            if j > i:
                pairs += 1
                groups.union(i, j)
    return pairs, groups.removed()


def run_naive(corpus: Path) -> dict[str, int]:
    from datasketch import MinHash, MinHashLSH

    sigs = []
    for _, text in read_texts(corpus):
        m = MinHash(num_perm=NUM_PERM)
        for i in range(max(1, len(text) - NGRAM + 1)):
            m.update(text[i : i + NGRAM].encode("utf-8"))
        sigs.append(m)
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for i, m in enumerate(sigs):
            session.insert(i, m, check_duplication=False)
    pairs, removed = _query_all(len(sigs), lambda i: lsh.query(sigs[i]))
    return {"documents": len(sigs), "candidates": pairs, "removed": removed}


def run_datasketch(corpus: Path) -> dict[str, int]:
    from datasketch import MinHash, MinHashLSH

    # A generator: bulk hashes one document's set at a time, no set is held past it.
    sets = ([s.encode("utf-8") for s in shingles(t)] for _, t in read_texts(corpus))
    sigs = MinHash.bulk(sets, num_perm=NUM_PERM)
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for i, m in enumerate(sigs):
            session.insert(i, m, check_duplication=False)
    pairs, removed = _query_all(len(sigs), lambda i: lsh.query(sigs[i]))
    return {"documents": len(sigs), "candidates": pairs, "removed": removed}


def run_rensa(corpus: Path) -> dict[str, int]:
    from rensa import RMinHash, RMinHashLSH

    sigs = []
    for _, text in read_texts(corpus):
        m = RMinHash(num_perm=NUM_PERM, seed=42)
        m.update(list(shingles(text)))
        sigs.append(m)
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=16)
    for i, m in enumerate(sigs):
        lsh.insert(i, m)
    pairs, removed = _query_all(len(sigs), lambda i: lsh.query(sigs[i]))
    return {"documents": len(sigs), "candidates": pairs, "removed": removed}


def run_datatrove(corpus: Path, work: Path, tasks: int = 2) -> dict[str, int]:
    """The four stages of datatrove's MinHash example, on `tasks` shards of the corpus."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.word_tokenizers import WordTokenizer

    class Characters(WordTokenizer):
        """Every non-space character a token, so that 5-grams are character 5-grams."""

        def word_tokenize(self, text: str) -> list[str]:
            return [c for c in text if not c.isspace()]

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    shards = work / "input"
    # 14 buckets of 9 rows: 126 of the 128 permutations, threshold (1/14)^(1/9) ~ 0.75.
    # sha1: datatrove 0.10's xxhash path passes str where the installed xxhash wants bytes.
    config = MinhashConfig(
        n_grams=NGRAM, num_buckets=14, hashes_per_bucket=9, hash_config=HashConfig(hash_fc="sha1")
    )
    signature = MinhashDedupSignature(
        output_folder=str(work / "sigs"), config=config, language=Characters()
    )
    logs = work / "logs"
    stage1 = LocalPipelineExecutor(
        pipeline=[JsonlReader(str(shards), text_key="text", id_key="id"), signature],
        tasks=tasks,
        workers=tasks,
        logging_dir=str(logs / "1"),
    )
    stage2 = LocalPipelineExecutor(
        pipeline=[
            MinhashDedupBuckets(
                input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=config
            )
        ],
        tasks=config.num_buckets,
        workers=tasks,
        logging_dir=str(logs / "2"),
        depends=stage1,
    )
    stage3 = LocalPipelineExecutor(
        pipeline=[
            MinhashDedupCluster(
                input_folder=str(work / "buckets"),
                output_folder=str(work / "remove"),
                config=config,
            )
        ],
        tasks=1,
        logging_dir=str(logs / "3"),
        depends=stage2,
    )
    stage4 = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(shards), text_key="text", id_key="id"),
            MinhashDedupFilter(
                input_folder=str(work / "remove"),
                exclusion_writer=JsonlWriter(str(work / "removed")),
            ),
            JsonlWriter(str(work / "kept")),
        ],
        tasks=tasks,
        workers=tasks,
        logging_dir=str(logs / "4"),
        depends=stage3,
    )
    stage4.run()
    documents = sum(1 for _ in read_texts_many(shards))
    removed = sum(1 for _ in read_texts_many(work / "removed"))
    return {"documents": documents, "candidates": -1, "removed": removed}


def read_texts_many(folder: Path) -> Iterator[str]:
    import gzip

    for p in sorted(folder.glob("*.jsonl*")):
        opener = gzip.open if p.name.endswith(".gz") else open
        with opener(p, "rt", encoding="utf-8") as f:
            yield from f


def prepare_datatrove(corpus: Path, work: Path, tasks: int = 2) -> None:
    """The corpus cut into `tasks` JSONL shards (datatrove gives each task whole files)."""
    shards = work / "input"
    shards.mkdir(parents=True, exist_ok=True)
    with open(corpus, "rb") as f:
        total = sum(1 for _ in f)
    per = -(-total // tasks)
    with open(corpus, "rb") as f:
        for k in range(tasks):
            with open(shards / f"part-{k}.jsonl", "wb") as out:
                out.writelines(itertools.islice(f, per))


_TD_PREPARE = """
import sys
from datasets import Dataset
Dataset.from_json(sys.argv[1]).save_to_disk(sys.argv[2])
"""
_TD_RESULT = """
import json, pickle, sys
from datasets import load_from_disk
with open(sys.argv[1], "rb") as f:
    uf = pickle.load(f)
kept = len(load_from_disk(sys.argv[2]))
print(json.dumps({"documents": int(sys.argv[3]), "candidates": -1,
                  "removed": int(sys.argv[3]) - kept}))
"""


def text_dedup_commands(
    python: str, corpus: Path, work: Path, procs: int
) -> tuple[list[str], list[str], list[str]]:
    """(prepare, timed run, result) commands for text-dedup's MinHash, run offline: the corpus
    is saved as a `datasets` folder first (not timed), then `text_dedup.minhash --local`."""
    ds, out = work / "ds", work / "out"
    prepare = [python, "-c", _TD_PREPARE, str(corpus), str(ds)]
    run = [
        python, "-m", "text_dedup.minhash", "--path", str(ds), "--local",
        "--output", str(out), "--column", "text", "--idx_column", "id",
        "--threshold", str(THRESHOLD), "--ngram", str(NGRAM), "--num_perm", str(NUM_PERM),
        "--debug", "--num_proc", str(procs),
    ]  # fmt: skip
    with open(corpus, "rb") as f:
        documents = sum(1 for _ in f)
    result = [python, "-c", _TD_RESULT, str(out / "uf.pkl"), str(out), str(documents)]
    return prepare, run, result


RUNNERS: dict[str, Callable[[Path], dict[str, int]]] = {
    "naive": run_naive,
    "datasketch": run_datasketch,
    "rensa": run_rensa,
}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in PEERS:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    name, corpus, work = argv[0], Path(argv[1]), Path(argv[2])
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = run_datatrove(corpus, work) if name == "datatrove" else RUNNERS[name](corpus)
    result["seconds"] = round(time.perf_counter() - t0, 3)  # type: ignore[assignment]
    (work / "result.json").write_text(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
