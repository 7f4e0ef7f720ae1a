"""How fast `dedup serve` answers: index build, searches and cluster pages over a finished run.

    python bench/gen_synthetic.py --n 100000 --out DIR
    python -m dedup run DIR -o OUT --no-report
    python bench/serve_bench.py OUT                 # --rebuild to time a fresh index

It starts the server on a free loopback port in this process and times HTTP requests the way a
browser makes them: searches (the list page and /api/clusters) for words taken from members'
texts, one and two characters apart (and the two-character words most frequent in the sampled
texts, such as 日本 or 大学, the slow case of a scan), words with punctuation and queries of
noise alone (read in the texts as they are), and cluster pages (random clusters and
the largest ones). Targets: a search under 200 ms, a cluster page under 300 ms.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import logging
import random
import sqlite3
import statistics
import threading
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from dedup.serve import INDEX, ensure_index
from dedup.serve.app import make_server

# Queries of what the normalizer removes: they fold to nothing, and are looked for in the texts
# as they are.
NOISE = ("，", "。", "、", "，，", "“", "（", "&nbsp;", "<br>", "(fā)", "。\n\n")
# CPU time of this process (the server's threads and the client) per request, beside wall
# time: on a machine shared with other work, wall time is mostly waiting for a core.
_cpu: dict[str, list[float]] = {}


def _get(conn: http.client.HTTPConnection, host: str, path: str) -> tuple[float, int, int]:
    t, c = time.perf_counter(), time.process_time()
    conn.request("GET", path, headers={"Host": host})
    response = conn.getresponse()
    body = response.read()
    _cpu.setdefault("last", []).append((time.process_time() - c) * 1000)
    return (time.perf_counter() - t) * 1000, response.status, len(body)


def _line(what: str, ms: list[float], cpu: list[float]) -> str:
    def figures(xs: list[float]) -> str:
        xs = sorted(xs)
        p95 = xs[min(len(xs) - 1, int(len(xs) * 0.95))]
        return f"median {statistics.median(xs):6.1f}  p95 {p95:6.1f}  max {xs[-1]:6.1f}"

    return f"{what:<34} n={len(ms):<3} wall ms: {figures(ms)}   CPU ms: {figures(cpu)}"


def _samples(
    outdir: Path, n: int, seed: int
) -> tuple[list[str], list[str], list[str], list[int], list[int]]:
    """Search words (long and 2-character) cut from members' texts, the 2-character words
    most frequent in those texts, random clusters and the largest ones."""
    rng = random.Random(seed)
    with closing(sqlite3.connect(outdir / INDEX)) as db:
        count = db.execute("SELECT max(rowid) FROM docs").fetchone()[0]
        words: list[str] = []
        short: list[str] = []
        pairs: collections.Counter[str] = collections.Counter()
        while len(words) < n:
            row = db.execute(
                "SELECT text FROM docs WHERE rowid = ?", (rng.randint(1, count),)
            ).fetchone()
            text = row[0] or ""
            if len(text) < 50:
                continue
            at = rng.randrange(len(text) - 10)
            word = text[at : at + rng.choice((3, 4, 6, 8))]
            if word.strip() != word or len(word.split()) > 1:
                continue
            words.append(word)
            short.append(text[at : at + 2])
            pairs.update(text[k : k + 2] for k in range(len(text) - 1))
        clusters = [r[0] for r in db.execute("SELECT cluster FROM clusters")]
        largest = [
            r[0] for r in db.execute("SELECT cluster FROM clusters ORDER BY size DESC LIMIT 10")
        ]
    frequent = [w for w, _ in pairs.most_common() if w.isalnum()][:10]
    return words, short, frequent, rng.sample(clusters, min(n, len(clusters))), largest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--rebuild", action="store_true", help="Remove serve.sqlite first.")
    ap.add_argument("--n", type=int, default=50, help="Searches and pages of each kind.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    outdir: Path = args.outdir
    if args.rebuild:
        (outdir / INDEX).unlink(missing_ok=True)
    t, c = time.perf_counter(), time.process_time()
    built = ensure_index(outdir)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    size = (outdir / INDEX).stat().st_size / 1e6
    with closing(sqlite3.connect(outdir / INDEX)) as db:
        clusters = db.execute("SELECT count(*) FROM clusters").fetchone()[0]
        docs = db.execute("SELECT count(*) FROM docs").fetchone()[0]
    how = "built" if built else "already current"
    print(
        f"index {how}: {wall:.2f} s wall, {cpu:.2f} s CPU; {clusters:,} clusters, "
        f"{docs:,} documents, {size:.1f} MB"
        + (f"; {cpu / docs * 1000:.2f} ms CPU per document" if built else "")
    )

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server(outdir, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_port}"
    try:
        words, short, frequent, sample, largest = _samples(outdir, args.n, args.seed)
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=60)
        _get(conn, host, "/")  # warm up: templates compiled, caches filled
        timings: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}

        def timed(what: str, path: str) -> tuple[int, int]:
            ms, status, size = _get(conn, host, path)
            timings.setdefault(what, []).append(ms)
            cpu.setdefault(what, []).append(_cpu["last"][-1])
            return status, size

        hits = 0
        for word in words:
            # A word with punctuation in it is also looked for in the texts as they are.
            kind = "3+ characters" if word.isalnum() else "3+, with punctuation"
            status, _ = timed(f"search page ({kind})", f"/?q={quote(word)}")
            assert status == 200, (word, status)
            status, size = timed(f"/api/clusters?q= ({kind})", f"/api/clusters?q={quote(word)}")
            hits += size > 60
        for word in NOISE:
            timed("search page (noise alone)", f"/?q={quote(word)}")
        for word in short:
            timed("search page (2 characters)", f"/?q={quote(word)}")
        for word in frequent:
            timed("search page (2 characters, frequent)", f"/?q={quote(word)}")
            timed("/api/clusters?q= (2 frequent)", f"/api/clusters?q={quote(word)}")
        for word in sorted({w[0] for w in short})[: max(5, args.n // 5)]:
            timed("search page (1 character)", f"/?q={quote(word)}")
        for word in [w for w, _ in collections.Counter("".join(frequent)).most_common(5)]:
            timed("search page (1 character, frequent)", f"/?q={quote(word)}")
        for number in sample:
            status, _ = timed("cluster page (random)", f"/cluster/{number}")
            assert status == 200, (number, status)
        for number in largest:
            timed("cluster page (10 largest)", f"/cluster/{number}")
        for what, ms in timings.items():
            print(_line(what, ms, cpu[what]))
        print(f"searches with a match: {hits} of {len(words)}")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
