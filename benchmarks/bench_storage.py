"""Benchmark: candidate storage designs for the warehouse at scale (figures, never pass/fail).

    python benchmarks/bench_storage.py [--sizes 0,100000,1000000] [--loads 20]
        [--candidates single,lake,lance] [--work DIR] [--json FILE]

(default sizes 0,100000: a 100k build takes ~10 minutes per design on 2 busy cores; 1M about
ten times that. ``--work DIR`` keeps the built sources and processed batches for a rerun.)

For each size it bulk-builds warehouses of realistic articles (~1,900 words / ~11.8 KB each,
spliced from paragraphs of the human ground truth in ``../shared/eval``, read in place) with
their MinHash band keys and search postings, in each candidate design:

- ``single``: today's single DuckDB file, built through the project's migrations, loaded by
  the project's loader (``warehouse.loader.load_spool``) and published for readers by
  ``warehouse.publish.publish`` (the full copy);
- ``lake``: DuckLake with a SQLite catalog and zstd Parquet data, articles partitioned by day
  of ``published_at``, postings sorted by term (file and row-group min/max prune by term), data
  inlining for small commits, then compaction and snapshot expiry;
- ``lance``: the articles' searchable columns as a Lance dataset with its inverted index,
  queried from SQL with the ``lance`` extension's ``lance_fts``.

Then, in the same run, it loads ``--loads`` consecutive batches of 1,000 new real articles
(processed once by the project's own stages), timing each until a reader can see it, while a
reader process holds one session open and polls; reports search p50/p95 from SQL for 2-3-term,
phrase and boolean queries, "daily counts by domain, last 30 days", storage size against the
same rows as zstd Parquet, and the loader's peak RSS.

DuckDB extensions are loaded from their pinned PyPI packages (never downloaded).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

from newsflow.tasks.near_duplicates import BANDS  # noqa: E402
from newsflow.warehouse import fts  # noqa: E402
from newsflow.warehouse.lake import SORTED  # noqa: E402
from newsflow.warehouse.search_index import _POSTINGS  # noqa: E402

NEW = 1000  # articles per load
BLOCKS = 4000  # distinct spliced bodies; article i gets block hash(i) % BLOCKS plus its own head
WORDS = 1840
DAYS = 365  # bulk-built articles are spread over the last year
DOMAINS = 2000


# ---------------------------------------------------------------- corpus and extensions


def eval_dir() -> Path:
    """``shared/eval`` beside the repository (or beside a parent, for git worktrees)."""
    for parent in ROOT.parents:
        if (parent / "shared" / "eval").is_dir():
            return parent / "shared" / "eval"
    raise SystemExit("no shared/eval beside the repository: the benchmark needs its texts")


def paragraphs() -> list[str]:
    """Paragraphs of the human ground truth (wcxb-dev main content, fundus bodies)."""
    ev = eval_dir()
    out: list[str] = []
    for path in sorted((ev / "wcxb-dev" / "ground-truth").glob("*.json")):
        body = (json.loads(path.read_text())["ground_truth"].get("main_content") or "").strip()
        out += [p.strip() for p in re.split(r"\n\s*\n|\n", body) if len(p.split()) >= 8]
    truth = json.loads((ev / "fundus" / "ground_truth.json").read_text())
    for item in truth.values():
        out += [p.strip("[]").strip() for p in item["body"] if len(p.split()) >= 8]
    return out


def blocks(n: int, seed: int = 13) -> pa.Table:
    """``n`` article bodies of ~1,900 words spliced from random real paragraphs."""
    rng = random.Random(seed)
    paras = paragraphs()
    titles, texts = [], []
    for _ in range(n):
        chosen: list[str] = []
        words = 0
        while words < WORDS:
            p = rng.choice(paras)
            chosen.append(p)
            words += len(p.split())
        texts.append("\n".join(chosen))
        titles.append(" ".join(chosen[0].split()[:9]))
    return pa.table({"b": list(range(n)), "title": titles, "text": texts})


def ext_path(name: str) -> str:
    """An extension binary inside its pinned ``duckdb-extension-<name>`` package."""
    package = f"duckdb_extension_{name}"
    root = resources.files(package) / "extensions" / f"v{duckdb.__version__}"
    path = Path(str(root / f"{name}.duckdb_extension"))
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: pip install duckdb-extension-{name}=={duckdb.__version__}"
        )
    return str(path)


def connect(path: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path, read_only=read_only, config={"autoinstall_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    return con


def load_ext(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    for name in names:
        con.execute(f"LOAD '{ext_path(name)}'")


def attach_lake(
    con: duckdb.DuckDBPyConnection, root: Path, *, read_only: bool = False, inline: int = 0
) -> None:
    from newsflow.warehouse.lake import use_wal

    load_ext(con, "sqlite_scanner", "ducklake")
    use_wal(root / "catalog.sqlite")  # else an open reader's lock fails the writer's commit
    opts = [f"DATA_PATH '{root}/data/'"]
    if read_only:
        opts.append("READ_ONLY")
    if inline:
        opts.append(f"DATA_INLINING_ROW_LIMIT {inline}")
    con.execute(f"ATTACH 'ducklake:sqlite:{root}/catalog.sqlite' AS lake ({', '.join(opts)})")


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# ---------------------------------------------------------------- the synthetic warehouse


def build_source(src: Path, size: int, body: pa.Table) -> dict[str, int]:
    """Parquet files of ``size`` articles (every public column), band keys, postings and
    document lengths: what each candidate bulk-loads. Bodies are real spliced text; each
    article has its own head line, id, URL, domain and time."""
    src.mkdir(parents=True, exist_ok=True)
    (src / "scratch.duckdb").unlink(missing_ok=True)
    con = connect(str(src / "scratch.duckdb"))
    con.execute(f"SET temp_directory = '{src}/tmp'")
    fts.load(con)
    con.execute(_stopwords_sql())
    con.register("body_arrow", body)
    con.execute("CREATE TABLE body AS SELECT b AS article_id, title, text FROM body_arrow")
    con.execute("CREATE TABLE body_postings AS " + _POSTINGS.format(source="body") + " ORDER BY 1")
    con.execute(
        "CREATE TABLE body_len AS SELECT article_id AS b, sum(title_tf) + 3 AS title_len, "
        "sum(text_tf) + 2 AS text_len FROM body_postings GROUP BY 1"
    )
    now = datetime.now(UTC).replace(microsecond=0)
    step = DAYS * 86400 / max(size, 1)
    con.execute(
        f"""CREATE TEMP VIEW ids AS SELECT i, substr(md5(i::VARCHAR), 1, 16) AS article_id,
        (hash(i) % {BLOCKS})::INTEGER AS b,
        'site' || (i % {DOMAINS}) || '.example' AS domain,
        TIMESTAMPTZ '{now.isoformat()}' - to_microseconds(({size} - i) * {step * 1e6}::BIGINT)
          AS published_at
        FROM range({size}) r(i)"""
    )
    if size:
        con.execute(
            f"""COPY (SELECT ids.article_id, 'https://www.' || domain || '/news/' || i AS url,
              'https://' || domain || '/news/' || i AS canonical_url, domain,
              body.title || ' ' || i AS title, published_at, 'en' AS language,
              0.98 AS language_confidence,
              'Report ' || i || ' from ' || domain || chr(10) || body.text AS text,
              (len(string_split(body.text, ' ')) + 4)::INTEGER AS word_count,
              md5(i::VARCHAR || body.text) AS content_hash, NULL::VARCHAR AS duplicate_of,
              'feed' AS origin, published_at + INTERVAL 1 HOUR AS ingested_at,
              NULL::TIMESTAMPTZ AS updated_at, NULL::TIMESTAMPTZ AS modified_at,
              'feed' AS published_source, NULL::VARCHAR AS modified_source,
              ['Staff']::VARCHAR[] AS authors, domain AS site_name,
              NULL::VARCHAR AS description, NULL::VARCHAR AS image,
              []::VARCHAR[] AS tags, ['news']::VARCHAR[] AS categories,
              NULL::VARCHAR AS canonical_link, 'full' AS access_status,
              9 AS reading_minutes, 'trafilatura-2.3' AS extractor,
              ids.article_id AS cluster_id
            FROM ids JOIN body ON body.article_id = ids.b ORDER BY i)
            TO '{src}/articles.parquet' (FORMAT parquet, COMPRESSION zstd)"""
        )
        con.execute(
            f"""COPY (SELECT (hash(i, s.b) & 9223372036854775807)::BIGINT AS band_key,
              article_id FROM ids, range({BANDS}) s(b))
            TO '{src}/bands.parquet' (FORMAT parquet, COMPRESSION zstd)"""
        )
        con.execute(
            f"""COPY (SELECT p.term, ids.article_id, 1 AS version, p.title_tf, p.text_tf,
              l.text_len
            FROM ids JOIN body_postings p ON p.article_id = ids.b JOIN body_len l USING (b)
            ORDER BY p.term)
            TO '{src}/postings.parquet' (FORMAT parquet, COMPRESSION zstd,
              ROW_GROUP_SIZE 122880)"""
        )
        con.execute(
            f"""COPY (SELECT article_id, 1 AS version, md5(i::VARCHAR) AS content_hash,
              l.title_len, l.text_len FROM ids JOIN body_len l USING (b))
            TO '{src}/docs.parquet' (FORMAT parquet, COMPRESSION zstd)"""
        )
    counts = {
        "postings": con.execute(
            "SELECT count(*) FROM ids JOIN body_postings p ON p.article_id = ids.b"
        ).fetchone()[0]  # type: ignore[index]
        if size
        else 0
    }
    con.close()
    return counts


def _stopwords_sql() -> str:
    sql = (ROOT / "warehouse/migrations/004_search_index.sql").read_text(encoding="utf-8")
    return sql[sql.index("CREATE TABLE search_stopwords") :]


# ---------------------------------------------------------------- candidates: bulk build


def build_single(db: Path, src: Path, size: int) -> None:
    """Today's warehouse: the project's migrations, its tables filled in bulk."""
    from newsflow.warehouse.db import connect_writer

    con = connect_writer(db, 10)
    if size:
        con.execute(f"INSERT INTO articles BY NAME SELECT * FROM '{src}/articles.parquet'")
        con.execute(
            f"INSERT INTO article_sightings SELECT article_id, 'feed', 'https://' || domain || "
            f"'/feed', 'guid-' || article_id, url, ingested_at FROM '{src}/articles.parquet'"
        )
        con.execute(f"INSERT INTO article_bands SELECT * FROM '{src}/bands.parquet'")
        con.execute(f"INSERT INTO search_docs BY NAME SELECT * FROM '{src}/docs.parquet'")
        con.execute(
            "INSERT INTO search_postings BY NAME SELECT * EXCLUDE (text_len) "
            f"FROM '{src}/postings.parquet'"
        )
        con.execute(
            f"INSERT INTO search_terms SELECT term, count(*) FROM '{src}/postings.parquet' "
            "GROUP BY term"
        )
        con.execute(
            f"INSERT INTO search_stats SELECT 1, count(*), sum(title_len), sum(text_len) "
            f"FROM '{src}/docs.parquet'"
        )
    con.execute("CHECKPOINT")
    con.close()


LAKE_TABLES = {
    # hot article columns; text lives in the same rows but Parquet reads only named columns
    "articles": "SELECT * FROM '{src}/articles.parquet'",
    "article_bands": "SELECT * FROM '{src}/bands.parquet'",
    "search_postings": "SELECT term, article_id, title_tf, text_tf, text_len "
    "FROM '{src}/postings.parquet'",
}


def build_lake(root: Path, src: Path, size: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    con = connect()
    con.execute(f"SET temp_directory = '{root}/tmp'")
    attach_lake(con, root)
    con.execute("CALL lake.set_option('parquet_compression', 'zstd')")
    con.execute("CALL lake.set_option('target_file_size', '256MB')")
    empty = f"{src}/../empty"
    for name, select in LAKE_TABLES.items():
        source = select.format(src=src if size else empty)
        con.execute(f"CREATE TABLE lake.{name} AS {source} LIMIT 0")
    con.execute(
        "ALTER TABLE lake.articles SET PARTITIONED BY "
        "(year(published_at), month(published_at), day(published_at))"
    )
    for table, column in SORTED.items():
        if table in LAKE_TABLES:
            con.execute(f"ALTER TABLE lake.{table} SET SORTED BY ({column})")
    if size:
        con.execute(
            f"INSERT INTO lake.articles {LAKE_TABLES['articles'].format(src=src)} "
            "ORDER BY published_at"
        )
        con.execute(
            f"INSERT INTO lake.article_bands {LAKE_TABLES['article_bands'].format(src=src)} "
            "ORDER BY band_key"
        )
        # postings.parquet is already sorted by term: files and row groups prune by term
        con.execute(
            f"INSERT INTO lake.search_postings {LAKE_TABLES['search_postings'].format(src=src)}"
        )
    con.close()


def write_empty_source(src: Path, body: pa.Table) -> None:
    """Schemas for an empty lake: zero-row copies of a 1-article source."""
    one = src.parent / "one"
    if not one.exists():
        build_source(one, 1, body)
    target = src.parent / "empty"
    target.mkdir(exist_ok=True)
    con = connect()
    for name in ("articles", "bands", "postings", "docs"):
        con.execute(
            f"COPY (SELECT * FROM '{one}/{name}.parquet' LIMIT 0) TO '{target}/{name}.parquet'"
        )
    con.close()


def build_lance(root: Path, src: Path, size: int) -> float:
    """Searchable columns as a Lance dataset with an inverted index on text: seconds to index."""
    con = connect()
    load_ext(con, "lance")
    data = root / "articles.lance"
    source = src if size else src.parent / "one"
    con.execute(
        f"COPY (SELECT article_id, domain, language, published_at, title, text "
        f"FROM '{source}/articles.parquet' {'' if size else 'LIMIT 1'}) "
        f"TO '{data}' (FORMAT lance, mode 'overwrite')"
    )
    started = time.perf_counter()
    con.execute(f"CREATE INDEX text_idx ON '{data}' (text) USING INVERTED")
    seconds = time.perf_counter() - started
    con.close()
    return seconds


# ---------------------------------------------------------------- load batches


def make_batches(work: Path, count: int) -> list[Path]:
    """``count`` spooled batches of 1,000 new real articles, processed once by the project's
    stages (language, hashes, band keys, postings); later batches are the first with new URLs
    and a changed head line, so every batch is new to the warehouse."""
    from newsflow.tasks.normalize import article_id, canonical_url, content_hash, word_count
    from newsflow.tasks.process import process_candidates
    from newsflow.tasks.records import Candidate
    from newsflow.tasks.spool import write_batch

    body = blocks(NEW, seed=97)
    candidates = [
        Candidate("feed", "bench", f"https://www.fresh{i % 300}.example/today/{i}", title=t, text=x)
        for i, (t, x) in enumerate(
            zip(body["title"].to_pylist(), body["text"].to_pylist(), strict=True)
        )
    ]
    spools = [work / f"spool{k}" for k in range(count)]
    if all(list(spool.glob("*/_MANIFEST.json")) for spool in spools):
        return spools  # kept from an earlier run in the same --work folder
    batch = process_candidates(candidates, "bench", now=datetime.now(UTC))
    originals = [(row.url, row.text) for row in batch.articles]
    for k in range(count):
        if k:
            for row, (url, text) in zip(batch.articles, originals, strict=True):
                row.url = url.replace("https://www.fresh", f"https://www.k{k}x", 1)
                row.canonical_url = canonical_url(row.url)
                row.article_id = article_id(row.canonical_url)
                row.text = f"Update {k}: {text}"
                row.word_count = word_count(row.text)
                row.content_hash = content_hash(row.text)
            batch.sightings = []
        shutil.rmtree(spools[k], ignore_errors=True)
        write_batch(batch, str(spools[k]))
    return spools


# ---------------------------------------------------------------- loads (child process)


def child_load(candidate: str, target: Path, spools: list[Path], log: Path) -> None:
    """Run the loads in a child process so its peak RSS is the loader's own."""
    times: list[dict[str, float]] = []
    if candidate == "single":
        from newsflow.warehouse.loader import load_spool
        from newsflow.warehouse.publish import publish

        for spool in spools:
            started = time.perf_counter()
            load_spool(target, str(spool), lock_wait=60)
            loaded = time.perf_counter()
            publish(target, lock_wait=60)
            done = time.perf_counter()
            times.append(
                {"load": loaded - started, "publish": done - loaded, "total": done - started}
            )
            with log.open("a") as f:
                f.write(json.dumps({"committed": time.time(), "n": len(times)}) + "\n")
    else:
        con = connect()
        attach_lake(con, target, inline=NEW * 2 if candidate == "lake-inline" else 0)
        fts.load(con)
        for spool in spools:
            started = time.perf_counter()
            times.append(lake_load(con, spool))
            times[-1]["total"] = time.perf_counter() - started
            with log.open("a") as f:
                f.write(json.dumps({"committed": time.time(), "n": len(times)}) + "\n")
    print(json.dumps({"times": times, "rss": peak_rss()}))


def peak_rss() -> int:
    """This process's own peak RSS in bytes. Not ``getrusage``: on Linux its ``ru_maxrss``
    carries the parent's peak across fork and exec, so a child would report the
    benchmark's own bulk build."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def lake_load(con: duckdb.DuckDBPyConnection, spool: Path) -> dict[str, float]:
    """One batch into the lake in one transaction: exact and near-duplicate lookups, then
    appends (articles, band keys, postings). The reader sees it when COMMIT returns."""
    batch = next(p for p in spool.iterdir() if p.is_dir())
    art, post = f"{batch}/articles.parquet", f"{batch}/postings.parquet"
    t0 = time.perf_counter()
    con.execute("BEGIN")
    con.execute(f"CREATE OR REPLACE TEMP TABLE new AS SELECT * FROM '{art}'")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE new_bands AS SELECT DISTINCT unnest(bands) AS band_key, "
        "article_id FROM new"
    )
    # exact duplicates, then near-duplicate candidates by shared band key
    con.execute(
        "CREATE OR REPLACE TEMP TABLE dup AS SELECT n.article_id, min(a.article_id) AS first "
        "FROM new n JOIN lake.articles a USING (content_hash) GROUP BY 1"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE near AS SELECT n.article_id, min(b.article_id) AS first "
        "FROM new_bands n JOIN lake.article_bands b USING (band_key) GROUP BY 1"
    )
    t1 = time.perf_counter()
    con.execute(
        "INSERT INTO lake.articles BY NAME SELECT new.* EXCLUDE (bands, shingles, duplicate_of), "
        "coalesce(d.first, m.first) AS duplicate_of, NULL::TIMESTAMPTZ AS updated_at, "
        "new.article_id AS cluster_id FROM new LEFT JOIN dup d USING (article_id) "
        "LEFT JOIN near m USING (article_id)"
    )
    con.execute("INSERT INTO lake.article_bands SELECT band_key, article_id FROM new_bands")
    con.execute(
        "INSERT INTO lake.search_postings SELECT term, article_id, title_tf, text_tf, "
        f"sum(text_tf) OVER (PARTITION BY article_id) FROM '{post}'"
    )
    con.execute("COMMIT")
    t2 = time.perf_counter()
    return {"lookups": t1 - t0, "append_commit": t2 - t1}


def child_reader(candidate: str, target: Path, log: Path, stop: Path) -> None:
    """Hold one session open and poll the article count until told to stop."""
    con = connect()
    if candidate == "single":
        # the only reader that does not block the loader: the published copy
        from newsflow.warehouse.publish import published_path

        con = connect(str(published_path(target)), read_only=True)
        db = ""
    else:
        attach_lake(con, target, read_only=True)
        db = "lake."
    with log.open("a") as f:
        while not stop.exists():
            started = time.perf_counter()
            try:
                n = con.execute(f"SELECT count(*) FROM {db}articles").fetchone()[0]  # type: ignore[index]
                err = None
            except duckdb.Error as error:
                n, err = -1, str(error)[:200]
            f.write(
                json.dumps(
                    {"t": time.time(), "n": n, "q": time.perf_counter() - started, "err": err}
                )
                + "\n"
            )
            f.flush()
            time.sleep(0.2)


def live_reader_blocks(target: Path) -> str:
    """Today's alternative to the published copy: an analyst session on the live file. Does
    the loader get its write lock while that session is open?"""
    from newsflow.warehouse.db import WarehouseLocked, connect_writer

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, time, sys; "
            "c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); "
            "time.sleep(20)",
            str(target),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    holder.stdout.readline()
    started = time.perf_counter()
    try:
        connect_writer(target, 5).close()
        verdict = "loader got the lock"
    except WarehouseLocked:
        verdict = f"loader blocked (gave up after {time.perf_counter() - started:.0f} s)"
    holder.kill()
    holder.wait()
    return verdict


def run_loads(candidate: str, target: Path, spools: list[Path], work: Path) -> dict[str, Any]:
    commits, reads, stop = (
        work / f"{candidate}-commits.jsonl",
        work / f"{candidate}-reads.jsonl",
        work / "stop",
    )
    for p in (commits, reads, stop):
        p.unlink(missing_ok=True)
    me = [sys.executable, str(Path(__file__).resolve())]
    copies = []  # the loader consumes its spool: each candidate loads its own copy
    for spool in spools:
        copy = work / f"{candidate}-{spool.name}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(spool, copy)
        copies.append(copy)
    spools = copies
    reader = subprocess.Popen(
        [*me, "--child-reader", candidate, str(target), str(reads), str(stop)]
    )
    time.sleep(3)  # the reader's session is open before the first load
    proc = subprocess.run(
        [*me, "--child-load", candidate, str(target), str(commits), *map(str, spools)],
        capture_output=True,
        text=True,
        check=False,
    )
    time.sleep(1)
    stop.touch()
    reader.wait(timeout=60)
    for copy in copies:
        shutil.rmtree(copy, ignore_errors=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    polls = [json.loads(line) for line in reads.read_text().splitlines()]
    marks = [json.loads(line) for line in commits.read_text().splitlines()]
    ok = [p for p in polls if p["err"] is None]
    result["reader_polls"] = len(polls)
    result["reader_errors"] = len(polls) - len(ok)
    result["reader_max_query"] = max((p["q"] for p in ok), default=float("nan"))
    first = ok[0]["n"] if ok else 0
    seen = 0
    for m in marks:  # did the open session see each commit's rows?
        if any(p["t"] > m["committed"] and p["n"] >= first + NEW * m["n"] for p in ok):
            seen += 1
    result["seen_after_commit"] = seen
    result["commits"] = len(marks)
    return result


# ---------------------------------------------------------------- queries


def pick_queries(body: pa.Table, rng: random.Random) -> dict[str, list[str]]:
    """Queries from the corpus itself: words in 3-30% of the texts, real adjacent-word
    phrases (so every kind has matches and none is a stop word)."""
    sample = body["text"].to_pylist()[:400]
    df: dict[str, int] = {}
    for text in sample:
        for word in set(re.findall(r"[a-z]{5,}", text.lower())):
            df[word] = df.get(word, 0) + 1
    terms = sorted(w for w, n in df.items() if 0.03 * len(sample) <= n <= 0.3 * len(sample))
    texts = body["text"].to_pylist()
    phrases: list[str] = []
    while len(phrases) < 20:
        words = re.findall(r"[a-z]+", rng.choice(texts).lower())
        if len(words) > 10:
            i = rng.randrange(len(words) - 3)
            if all(len(w) > 3 for w in words[i : i + 2]):
                phrases.append('"' + " ".join(words[i : i + rng.choice((2, 3))]) + '"')
    return {
        "2-3 terms": [" ".join(rng.sample(terms, rng.choice((2, 3)))) for _ in range(20)],
        "phrase": phrases,
        "boolean": [
            f"{a} AND {b} NOT {c}" if k % 2 else f"({a} OR {b}) AND {c}"
            for k in range(20)
            for a, b, c in [rng.sample(terms, 3)]
        ],
    }


def parse(query: str) -> tuple[list[list[str]], list[str], list[str]]:
    """(groups of OR-alternatives that must all match, NOT words, phrases) of a query."""
    phrases = re.findall(r'"([^"]+)"', query)
    rest = re.sub(r'"[^"]+"', " ", query)
    nots = re.findall(r"NOT\s+(\w+)", rest)
    rest = re.sub(r"NOT\s+\w+", " ", rest)
    groups = [g.split(" OR ") for g in re.findall(r"\(([^)]+)\)", rest)]
    rest = re.sub(r"\([^)]+\)", " ", rest).replace(" AND ", " ")
    groups += [[w] for w in rest.split() if w not in ("AND", "OR")]
    groups += [[w] for p in phrases for w in p.split()]
    return groups, nots, phrases


def postings_search(
    con: duckdb.DuckDBPyConnection, query: str, db: str, n_docs: int, avg_len: float
) -> list[tuple[str, float]]:
    """Top 20 BM25 hits from term-sorted postings: only the query's terms are read."""
    groups, nots, phrases = parse(query)
    stem = lambda w: con.execute("SELECT stem(lower(?), 'porter')", [w]).fetchone()[0]  # type: ignore[index]  # noqa: E731
    g_terms = [[stem(w.strip()) for w in g] for g in groups]
    terms = sorted({t for g in g_terms for t in g})
    groups_sql = " AND ".join(
        "list_has_any(ts, [" + ", ".join(f"'{t}'" for t in g) + "])" for g in g_terms
    )
    not_sql = ""
    if nots:
        nterms = ", ".join(f"'{stem(w)}'" for w in nots)
        not_sql = (
            f"AND article_id NOT IN (SELECT article_id FROM {db}search_postings "
            f"WHERE term IN ({nterms}))"
        )
    in_list = ", ".join(f"'{t}'" for t in terms)
    sql = f"""
    WITH hits AS (SELECT term, article_id, text_tf, text_len FROM {db}search_postings
                  WHERE term IN ({in_list})),
    df AS (SELECT term, ln(1 + ({n_docs} - count(*) + 0.5) / (count(*) + 0.5)) AS idf
           FROM hits GROUP BY term),
    scored AS (SELECT article_id, list(term) AS ts,
                 sum(idf * text_tf * 2.2 / (text_tf + 1.2 * (0.25 + 0.75 * text_len / {avg_len})))
                 AS score
               FROM hits JOIN df USING (term) GROUP BY article_id)
    SELECT article_id, score FROM scored WHERE {groups_sql} {not_sql}
    ORDER BY score DESC LIMIT {100 if phrases else 20}"""
    rows = con.execute(sql).fetchall()
    if phrases and rows:
        # phrases: the best AND-candidates whose text holds the phrase (texts by id)
        ids = ", ".join(f"'{r[0]}'" for r in rows)
        cond = " AND ".join(
            f"regexp_matches(lower(text), '\\b{re.escape(p.lower())}\\b')" for p in phrases
        )
        keep = {
            r[0]
            for r in con.execute(
                f"SELECT article_id FROM {db}articles WHERE article_id IN ({ids}) AND {cond}"
            ).fetchall()
        }
        rows = [r for r in rows if r[0] in keep][:20]
    return rows


def time_queries(run: Callable[[str], Any], queries: dict[str, list[str]]) -> dict[str, str]:
    out = {}
    for kind, qs in queries.items():
        run(qs[0])  # warm
        spent = []
        for q in qs:
            started = time.perf_counter()
            run(q)
            spent.append(time.perf_counter() - started)
        out[kind] = (
            f"p50 {statistics.median(spent) * 1000:.0f} ms, p95 {pct(spent, 0.95) * 1000:.0f} ms"
        )
    return out


DAILY = """SELECT CAST(published_at AS DATE) AS day, domain, count(*) AS articles
FROM {db}articles WHERE published_at >= now() - INTERVAL 30 DAY GROUP BY ALL"""


def time_sql(con: duckdb.DuckDBPyConnection, sql: str, repeat: int = 5) -> str:
    con.execute(sql).fetchall()
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        con.execute(sql).fetchall()
        spent.append(time.perf_counter() - started)
    return f"{statistics.median(spent) * 1000:.0f} ms"


# ---------------------------------------------------------------- the run


def measure(
    size: int,
    work: Path,
    body: pa.Table,
    spools: list[Path],
    candidates: list[str],
    out: dict[str, Any],
) -> None:
    src = work / f"src{size}"
    started = time.perf_counter()
    counts = build_source(src, size, body) if size else {"postings": 0}
    row: dict[str, Any] = {"source_build_s": round(time.perf_counter() - started, 1), **counts}
    out.setdefault(str(size), {})["source"] = row
    if size:
        row["parquet_zstd"] = {
            n: du(src / f"{n}.parquet") for n in ("articles", "bands", "postings", "docs")
        }
        print(
            f"  {size:,}: source built in {row['source_build_s']} s, "
            f"{counts['postings']:,} postings, "
            f"zstd Parquet {gb(sum(row['parquet_zstd'].values()))} "
            f"(articles {gb(row['parquet_zstd']['articles'])})",
            flush=True,
        )
    else:
        write_empty_source(src, body)
    queries = pick_queries(body, random.Random(size))
    for cand in candidates:
        res: dict[str, Any] = {}
        target = work / f"{cand}{size}"
        t0 = time.perf_counter()
        if cand == "single":
            target = target.with_suffix(".duckdb")
            build_single(target, src if size else work / "one", size if size else 0)
            from newsflow.warehouse.publish import publish

            publish(target, lock_wait=60)
        elif cand.startswith("lake"):
            build_lake(target, src if size else work / "empty", size)
        elif cand == "lance":
            res["index_build_s"] = round(build_lance(target, src, size), 1)
        res["build_s"] = round(time.perf_counter() - t0, 1)
        res["bytes"] = du(target)
        print(f"  {size:,} {cand}: built in {res['build_s']} s, {gb(res['bytes'])}", flush=True)
        if cand == "lance":
            res.update(lance_figures(target, queries, spools[0]))
        else:
            res.update(run_loads(cand, target, spools, work))
            if cand == "single":
                res["live_reader"] = live_reader_blocks(target)
            res.update(read_figures(cand, target, queries, size))
            res["bytes_after_loads"] = du(target)
        if cand.startswith("lake"):
            res.update(maintain(target, queries))
        out.setdefault(str(size), {})[cand] = res
        print(f"  {size:,} {cand}: {summarize(res)}", flush=True)
        if cand == "single":
            for p in target.parent.glob(f"{target.stem}*"):
                p.unlink()
        elif cand != "lance" or size:
            shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(src / "tmp", ignore_errors=True)
    (src / "scratch.duckdb").unlink(missing_ok=True)


def read_figures(
    cand: str, target: Path, queries: dict[str, list[str]], size: int
) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if cand == "single":
        from newsflow.warehouse.publish import open_published, published_path

        con = open_published(published_path(target))
        res["daily_30d"] = time_sql(con, DAILY.format(db=""))
        res["search"] = time_queries(
            lambda q: fts.search(con, q.replace('"', "")), {"2-3 terms": queries["2-3 terms"]}
        )
        res["search"]["phrase/boolean"] = "not supported (bag of words)"
    else:
        con = connect()
        attach_lake(con, target, read_only=True)
        fts.load(con)
        res["daily_30d"] = time_sql(con, DAILY.format(db="lake."))
        n = con.execute("SELECT count(*) FROM lake.articles").fetchone()[0]  # type: ignore[index]
        res["search"] = time_queries(lambda q: postings_search(con, q, "lake.", n, 1700.0), queries)
        res["files"] = con.execute(
            "SELECT count(*) FROM ducklake_list_files('lake', 'search_postings')"
        ).fetchone()[0]  # type: ignore[index]
    con.close()
    return res


def maintain(target: Path, queries: dict[str, list[str]]) -> dict[str, Any]:
    """Flush inlined rows, merge the loads' small files, expire old snapshots, clean up; then
    search again (the merged postings are no longer sorted by term)."""
    con = connect()
    attach_lake(con, target)
    res: dict[str, Any] = {}
    for step, sql in (
        ("flush_inlined", "CALL ducklake_flush_inlined_data('lake')"),
        ("merge_files", "CALL ducklake_merge_adjacent_files('lake')"),
        ("expire_snapshots", "CALL ducklake_expire_snapshots('lake', older_than => now())"),
        ("cleanup_files", "CALL ducklake_cleanup_old_files('lake', cleanup_all => true)"),
    ):
        started = time.perf_counter()
        try:
            con.execute(sql).fetchall()
            res[f"maint_{step}"] = f"{time.perf_counter() - started:.1f} s"
        except duckdb.Error as error:
            res[f"maint_{step}"] = f"error: {str(error)[:120]}"
    fts.load(con)
    n = con.execute("SELECT count(*) FROM lake.articles").fetchone()[0]  # type: ignore[index]
    res["search_after_maintenance"] = time_queries(
        lambda q: postings_search(con, q, "lake.", n, 1700.0), queries
    )
    res["bytes_after_maintenance"] = du(target)
    con.close()
    return res


def lance_figures(target: Path, queries: dict[str, list[str]], spool: Path) -> dict[str, Any]:
    con = connect()
    load_ext(con, "lance")
    data = target / "articles.lance"
    res: dict[str, Any] = {}

    def run(q: str) -> Any:
        return con.execute(
            "SELECT article_id, _score FROM lance_fts(?, 'text', ?, k = 20)", [str(data), q]
        ).fetchall()

    try:
        res["search"] = time_queries(run, queries)
    except duckdb.Error as error:
        res["search"] = f"error: {str(error)[:200]}"
    # a load: append 1,000 rows, then bring the index up to date
    started = time.perf_counter()
    con.execute(
        "COPY (SELECT article_id, domain, language, published_at, title, text "
        f"FROM '{spool}/*/articles.parquet') TO '{data}' (FORMAT lance, mode 'append')"
    )
    appended = time.perf_counter()
    try:
        con.execute(f"ALTER INDEX text_idx ON '{data}' OPTIMIZE WITH (mode = 'append')").fetchall()
        res["load_1k"] = (
            f"append {appended - started:.2f} s + index {time.perf_counter() - appended:.2f} s"
        )
    except duckdb.Error as error:
        res["load_1k"] = f"append {appended - started:.2f} s; index update error {str(error)[:120]}"
    con.close()
    return res


def summarize(res: dict[str, Any]) -> str:
    parts = []
    if "times" in res:
        totals = [t["total"] for t in res["times"]]
        parts.append(
            f"load 1k median {statistics.median(totals):.2f} s (min {min(totals):.2f}, "
            f"max {max(totals):.2f}, max/median {max(totals) / statistics.median(totals):.2f}x)"
        )
        parts.append(f"loader peak RSS {res['rss'] / 1e6:.0f} MB")
        parts.append(
            f"reader: {res['reader_polls']} polls, {res['reader_errors']} errors, slowest "
            f"{res['reader_max_query'] * 1000:.0f} ms, saw {res['seen_after_commit']}/"
            f"{res['commits']} commits"
        )
    for key in (
        "live_reader",
        "daily_30d",
        "search",
        "files",
        "load_1k",
        "index_build_s",
        "maint_flush_inlined",
        "maint_merge_files",
        "maint_expire_snapshots",
        "maint_cleanup_files",
        "search_after_maintenance",
    ):
        if key in res:
            parts.append(f"{key}: {res[key]}")
    return "\n      ".join(parts)


def available(candidate: str) -> bool:
    """Whether a candidate's extensions are installed; says what to install if not."""
    needs = {"lake": ("ducklake", "sqlite_scanner"), "lance": ("lance",)}.get(candidate, ())
    try:
        for name in needs:
            ext_path(name)
    except (FileNotFoundError, ModuleNotFoundError):
        packages = " ".join(
            f"duckdb-extension-{n.replace('_', '-')}=={duckdb.__version__}" for n in needs
        )
        print(f"{candidate}: skipped, its extensions are not installed (pip install {packages})")
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,100000", help="comma-separated (0: empty)")
    parser.add_argument("--loads", type=int, default=20, help="consecutive loads of 1,000")
    parser.add_argument("--candidates", default="single,lake,lance")
    parser.add_argument("--work", help="scratch directory (default: a temporary one)")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    candidates = [c for c in args.candidates.split(",") if available(c)]
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_storage_"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"bench_storage: sizes {sizes}, {args.loads} loads of {NEW}, candidates {candidates}, "
        f"scratch {work}",
        flush=True,
    )
    body = blocks(BLOCKS)
    words = statistics.mean(len(t.split()) for t in body["text"].to_pylist()[:500])
    kb = statistics.mean(len(t.encode()) for t in body["text"].to_pylist()[:500]) / 1000
    print(f"bodies: {BLOCKS} spliced texts, mean {words:.0f} words / {kb:.1f} KB", flush=True)
    build_source(work / "one", 1, body)
    started = time.perf_counter()
    spools = make_batches(work, args.loads)
    print(
        f"{args.loads} batches of {NEW} new articles processed in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    out: dict[str, Any] = {}
    try:
        for size in sizes:
            measure(size, work, body, spools, candidates, out)
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1, default=str))
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    report(out, sizes, candidates)


def report(out: dict[str, Any], sizes: list[int], candidates: list[str]) -> None:
    print("\nload 1k until readers see it (median; ratio to the empty warehouse; max/median):")
    for cand in candidates:
        base = out.get("0", {}).get(cand, {}).get("times")
        for size in sizes:
            res = out.get(str(size), {}).get(cand, {})
            if "times" not in res:
                continue
            med = statistics.median(t["total"] for t in res["times"])
            ratio = med / statistics.median(t["total"] for t in base) if base else float("nan")
            print(
                f"  {cand:>6} {size:>9,}: {med:.2f} s  {ratio:.2f}x  "
                f"spread {max(t['total'] for t in res['times']) / med:.2f}x  "
                f"RSS {res['rss'] / 1e6:.0f} MB"
            )
    print("storage vs the same rows as zstd Parquet:")
    for size in sizes[1:]:
        ref = sum(out[str(size)]["source"].get("parquet_zstd", {}).values()) or 1
        for cand in candidates:
            res = out.get(str(size), {}).get(cand)
            if res:
                print(f"  {cand:>6} {size:>9,}: {gb(res['bytes'])} = {res['bytes'] / ref:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-load":
        child_load(
            sys.argv[2], Path(sys.argv[3]), [Path(p) for p in sys.argv[5:]], Path(sys.argv[4])
        )
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-reader":
        child_reader(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]))
    else:
        main()
