"""Benchmark: the DuckLake warehouse at 0, 100k and 1M articles, through the project's own code.

    nice -n 5 python benchmarks/bench_lake_scale.py --sizes 0,1000000,100000 --work DIR \\
        [--loads 20] [--big-loads 200] [--pool 10] [--profile] [--out FILE] [--json FILE]

Sizes run in the order given (the report lists them by size). For each size it creates a
``.ducklake`` warehouse with the project's code (``warehouse.db.connect_writer`` ->
``lake.open_warehouse``: the migrations' tables, the views and the search macros), fills it in
bulk with SQL, then measures, in one run:

- read side on the bulk-built lake: "daily counts by domain, last 30 days" through the
  ``daily_counts`` view and as the plain analyst query on ``articles`` (median of 5, with
  their ``EXPLAIN ANALYZE``: files read), search at the largest size, and storage: the lake's
  data files plus catalog against every table's rows written as zstd Parquet (one file per
  table, DuckDB's ``COPY``);
- loads: consecutive batches of 1,000 new articles through ``warehouse.loader.load_spool``
  (one call per batch, so each opens the lake as ``newsflow load`` does) in a child process,
  timed until readers see the rows: ``load_spool``'s time less the search index's merge of
  small segments it runs after the batch's commit (reported apart: the whole call); ``--loads`` at
  sizes under 1M, ``--big-loads`` from 1M; median, p95, max/median, loads over 1.5x the
  median, the first 20 against the last 20; the loader's counts per load (new articles, of
  which duplicates: the same path every load); the child's own peak RSS (``VmHWM``) and,
  per load, its peak anonymous memory (``RssAnon``, without the mapped key index), its CPU
  seconds per load and the machine's load average;
- a reader process that opens the lake with the analysts' ATTACH line
  (``storage.attach_line``, what ``newsflow published`` prints) before the first load, holds
  that session open through every load and polls ``count(*)`` every 0.5 s: errors, slowest
  poll, and whether a poll begun after each commit (before the next load) saw its rows;
- read side again after the loads: daily counts, search from SQL through the project's
  ``search_articles`` macro on that ATTACH line (``bench_search.pick_queries``: 1 common or
  rare term, 2-3 terms, AND, OR, AND NOT, phrases, domain, month and language filters; one
  query of each kind warms, ``SEARCHES`` are timed), storage;
- with ``--profile``, the first load at the largest size runs under cProfile (left out of
  the timings): where a load's time goes, by function and by the call sites of ``execute``.

What is real and what is synthetic:

- Texts are real prose, spliced: 4,000 bodies of ~1,900 words from paragraphs of the human
  ground truth in ``../shared/eval`` (``bench_storage.blocks``, read in place); bulk article
  ``i`` has body ``hash(i) % 4000`` under its own head line, id, URL, one of 2,000 domains and
  a time spread over the last year, in day partitions. Each body's search postings (terms,
  frequencies, positions) are the workers' own (``tasks.postings.batch_postings``), tokenized
  once per body and expanded to every article with SQL; the index is laid out in the segments
  that loads and ``compact`` leave (``bench_search._segment_plan``), written by the project's
  ``search_index.write_segment``. Every table a load or a query reads is filled: articles,
  sightings, band keys, text_units, spool_batches, the search index's tables.
- Synthetic: the bulk articles' band keys (36 random keys each: no bulk article is a
  near-duplicate candidate of another, nor of a new one), their ``text_units`` rows (one per
  sentence of the body, 111 on average, with random sentence hashes: as many rows and as
  random keys as real stories give, but no new sentence matches a bulk one), content hashes
  (``md5`` of the article number) and one sighting each. No raw pages (loads bring none), no
  duplicates among the bulk articles.
- Loaded batches: ``--pool`` batches of 1,000 text candidates (other spliced bodies, URLs on
  the same 2,000 domains) are processed once by the project's stages (``process_candidates``,
  ``write_batch``: language, hashes, band keys, postings). Spliced bodies share real
  paragraphs (each of the 36,781 paragraphs is in ~70 of 1,000 bodies), which real stories do
  not, and the near-duplicate check then compares nearly every pair: so before processing,
  each sentence's words are shuffled (``shuffle``: words, counts, sentences and lines kept;
  sentences and 3-word shingles new). Load ``k`` is pool batch ``k % pool`` as variant
  ``k // pool``: from variant 1 on, new URLs, ids and sightings, each sentence's words
  shuffled again (the spooled postings stay true but for positions), content hashes
  recomputed and band keys re-salted, so each variant is new to the warehouse. From the
  second load on, 20 articles a batch are exact copies of articles of the load before and 20
  near copies (the same text under a new first line, the same band keys): mostly new
  stories, a few copies. Each article is dated (``published_at``) within the 6 hours before
  its batch was made. Copies keep the postings of the row they replace (40 documents a
  load indexed under another text). The run prints how many sentences of each load's new
  stories the load before had.

Timings on a shared 2-core machine: compare ratios within one run; the load average is
printed. ``--work DIR`` keeps the built lakes, the pool and the batches; a rerun with the same
``--work`` and ``--reuse`` takes the lakes built before as they are (with the loads the
earlier run added) and only loads and measures, with batches of new variants.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from benchmarks.bench_search import (  # noqa: E402
    _segment_plan,
    body_postings,
    bulk_index,
    pick_queries,
    run_query,
)
from benchmarks.bench_storage import BLOCKS, DAYS, DOMAINS, blocks, du, gb, pct, peak_rss  # noqa: E402
from newsflow.tasks.contract import BANDS  # noqa: E402

NEW = 1000  # articles per load
COPIES = 20  # exact copies of the load before, per load
NEAR = 20  # near copies (new first line, same band keys), per load
CHUNK_ROWS = 50_000  # articles per bulk INSERT (bounded memory)
POLL = 0.5  # seconds between the reader's polls
# Timed queries per kind (after one that warms the caches): a search_articles call on the lake
# spends seconds planning on this loaded machine, so 10 kinds x 15 would take half an hour.
SEARCHES = 5


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- bodies and their postings


def corpus(work: Path) -> tuple[pa.Table, pa.Table, dict[int, int]]:
    """The 4,000 bodies, their postings (cached in ``work``) and sentences per body."""
    from newsflow.tasks import boilerplate as bp

    body = blocks(BLOCKS)
    cache = work / "body_postings.parquet"
    if cache.exists():
        postings = pq.read_table(cache)
    else:
        started = time.perf_counter()
        postings = body_postings(body)
        pq.write_table(postings, cache)
        log(f"body postings: {postings.num_rows:,} in {time.perf_counter() - started:.0f} s")
    units = {
        b: len(bp.units(t))
        for b, t in zip(body["b"].to_pylist(), body["text"].to_pylist(), strict=True)
    }
    return body, postings, units


# ---------------------------------------------------------------- the bulk-built lake


def lake_path(work: Path, size: int) -> Path:
    return work / f"lake{size}" / "news.ducklake"


def build(
    work: Path, size: int, body: pa.Table, bp: pa.Table, units: dict[int, int]
) -> dict[str, Any]:
    """A lake created by the project's code, then filled with ``size`` articles in bulk."""
    from newsflow.warehouse.db import connect_writer

    target = lake_path(work, size)
    shutil.rmtree(target.parent, ignore_errors=True)
    target.parent.mkdir(parents=True)
    spent: dict[str, float] = {}
    started = time.perf_counter()
    con = connect_writer(target, 10)  # lake.open_warehouse: tables, views, macros
    spent["create"] = time.perf_counter() - started
    if not size:
        con.close()
        return {"build_s": spent}
    (work / "tmp").mkdir(exist_ok=True)
    con.execute(f"SET temp_directory = '{work}/tmp'")
    con.execute("SET memory_limit = '8GB'")
    con.execute("SET preserve_insertion_order = false")
    now = now_utc().isoformat()
    step = int(DAYS * 86400 / size * 1e6)
    con.execute(
        f"""CREATE TEMP TABLE ids AS SELECT i, substr(md5(i::VARCHAR), 1, 16) AS article_id,
        (hash(i) % {BLOCKS})::INTEGER AS b, 'site' || (i % {DOMAINS}) || '.example' AS domain,
        TIMESTAMPTZ '{now}' - to_microseconds(({size} - i) * {step}::BIGINT) AS published_at
        FROM range({size}) r(i)"""
    )
    con.register("body_arrow", body)
    con.execute("CREATE TEMP TABLE body AS SELECT b, title, text FROM body_arrow")
    con.unregister("body_arrow")

    def timed(name: str, sql: str, *params: Any) -> None:
        t0 = time.perf_counter()
        con.execute(sql, list(params))
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0

    # articles: in chunks of consecutive times (each chunk a few weeks of day partitions)
    for lo in range(0, size, CHUNK_ROWS):
        timed(
            "articles",
            f"""INSERT INTO articles BY NAME SELECT ids.article_id,
              'https://www.' || domain || '/news/' || i AS url,
              'https://' || domain || '/news/' || i AS canonical_url, domain,
              body.title, published_at, 'en' AS language, 0.98 AS language_confidence,
              'Report ' || i || ' from ' || domain || chr(10) || body.text AS text,
              1900 AS word_count, md5(i::VARCHAR) AS content_hash, 'feed' AS origin,
              published_at + INTERVAL 1 HOUR AS ingested_at, 'feed' AS published_source,
              ['Staff']::VARCHAR[] AS authors, domain AS site_name, []::VARCHAR[] AS tags,
              ['news']::VARCHAR[] AS categories, 'full' AS access_status,
              9 AS reading_minutes, 'trafilatura' AS extractor, ids.article_id AS cluster_id
            FROM ids JOIN body USING (b) WHERE i >= {lo} AND i < {lo + CHUNK_ROWS}""",
        )
    timed(
        "sightings",
        "INSERT INTO article_sightings SELECT article_id, 'feed', 'https://' || domain || "
        "'/feed', 'guid-' || article_id, 'https://www.' || domain || '/news/' || i, "
        "published_at + INTERVAL 1 HOUR FROM ids",
    )
    timed(
        "bands",
        f"INSERT INTO article_bands SELECT (hash(i, s.k) & 9223372036854775807)::BIGINT, "
        f"article_id FROM ids, range({BANDS}) s(k)",
    )
    con.register("units_arrow", pa.table({"b": list(units), "n": list(units.values())}))
    con.execute("CREATE TEMP TABLE body_units AS SELECT * FROM units_arrow")
    con.unregister("units_arrow")
    for lo in range(0, size, CHUNK_ROWS * 4):
        timed(
            "text_units",
            "INSERT INTO text_units SELECT (hash(i, 'unit', j) & 9223372036854775807)::BIGINT "
            "- 4611686018427387904, domain, 1, article_id, "
            "published_at + INTERVAL 1 HOUR FROM ids JOIN body_units USING (b), "
            f"range(n) r(j) WHERE i >= {lo} AND i < {lo + CHUNK_ROWS * 4}",
        )
    timed(
        "spool_batches",
        f"INSERT INTO spool_batches SELECT 'bulk-' || k, 'bulk', now(), {NEW}, 0 "
        f"FROM range({size // NEW}) r(k)",
    )
    # The search index in today's layout, as bench_search.build_012_bulk builds it.
    spent["search_docs_terms"], spent["search_postings"] = bulk_index(con, size, bp)
    con.close()
    return {"build_s": spent, "segments": len(_segment_plan(size))}


# ---------------------------------------------------------------- batches to load


def pool(work: Path, count: int) -> list[Path]:
    """``count`` spool folders of one batch of 1,000 text candidates each, processed once by
    the project's stages."""
    from newsflow.tasks.process import process_candidates
    from newsflow.tasks.records import Candidate
    from newsflow.tasks.spool import write_batch

    folders = [work / "pool" / f"p{k:03d}" for k in range(count)]
    if all(list(f.glob("*/_MANIFEST.json")) for f in folders):
        return folders
    body = blocks(NEW * count, seed=97)
    rng = random.Random(97)
    titles = body["title"].to_pylist()
    # spliced bodies share real paragraphs (each paragraph is in ~70 of 1,000 bodies), which
    # real stories do not: shuffled, each article's sentences are its own
    texts = [shuffle(t, rng) for t in body["text"].to_pylist()]
    for k, folder in enumerate(folders):
        if list(folder.glob("*/_MANIFEST.json")):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        candidates = [
            Candidate(
                "feed",
                f"https://site{(k * NEW + i) % DOMAINS}.example/feed",
                f"https://site{(k * NEW + i) % DOMAINS}.example/today/{k}-{i}",
                title=titles[k * NEW + i],
                text=texts[k * NEW + i],
            )
            for i in range(NEW)
        ]
        batch = process_candidates(candidates, "bench-lake", now=datetime.now(UTC))
        write_batch(batch, str(folder))
        log(
            f"pool batch {k}: {len(batch.articles)} articles, {time.perf_counter() - started:.1f} s"
        )
    return folders


_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+")  # boilerplate.sentences' split
_TRAIL = re.compile(r"[.!?…\"'”’)\]]+$")


def shuffle(text: str, rng: random.Random) -> str:
    """Each sentence's words in a random order, its closing punctuation kept: every sentence
    and nearly every 3-word shingle of the text is new, while its words, their counts and the
    lines stay as they were. A sentence of fewer than 3 words joins the next (shuffled, "Yes."
    or "Mr." alone would be sentences that thousands of articles share, which a real
    warehouse counts as boilerplate long before 1M articles), and a word inside a sentence
    loses a closing period ("Mr." -> "Mr"), so no new sentence is cut out of a shuffled one.
    (Shuffling whole lines instead cut them into short fragments that hundreds share.)"""
    lines = []
    for line in text.split("\n"):
        out = []
        carry: list[str] = []
        parts = _END.split(line)
        for n, sentence in enumerate(parts):
            toks = carry + sentence.split()
            if len(toks) < 3 and n < len(parts) - 1:
                carry = toks
                continue
            carry = []
            trail = _TRAIL.search(toks[-1]) if toks else None
            end = ""
            if trail and len(toks[-1]) > len(trail.group(0)):
                end = trail.group(0)
                toks[-1] = toks[-1][: -len(end)]
            toks = [_TRAIL.sub("", t) or t for t in toks]
            rng.shuffle(toks)
            out.append(" ".join(toks) + end)
        lines.append(" ".join(out))
    return "\n".join(lines)


def salt(keys: list[int], v: int) -> list[int]:
    if not v:
        return list(keys)
    mix = 0x9E3779B97F4A7C15 * (v + 1)
    return [((k * 0x100000001B3) ^ mix) % (1 << 63) - (1 << 62) for k in keys]


def derive(
    pool_folder: Path, k: int, v: int, prev: list[dict[str, Any]] | None, out: Path
) -> list[dict[str, Any]]:
    """Load ``k``'s batch: the pool batch as variant ``v``, with copies of the load before."""
    from newsflow.tasks import spool as spool_mod
    from newsflow.tasks.contract import Table, content_hash
    from newsflow.tasks.normalize import article_id, canonical_url

    batch_id = spool_mod.pending(str(pool_folder))[0]
    _, tables = spool_mod.read_batch(str(pool_folder), batch_id)
    wanted = [
        "article_id",
        "url",
        "canonical_url",
        "title",
        "text",
        "content_hash",
        "bands",
        "word_count",
        "published_at",
    ]
    arts = tables[Table.ARTICLES]
    cols = {c: arts[c].to_pylist() for c in wanted}
    rows = [{c: cols[c][j] for c in wanted} for j in range(arts.num_rows)]
    old_order = sorted(r["article_id"] for r in rows)
    ids: dict[str, str] = {}
    made = datetime.now(UTC)
    for j, r in enumerate(rows):
        old = r["article_id"]
        if v:
            r["url"] = r["url"].replace("/today/", f"/today/v{v}/", 1)
            r["canonical_url"] = canonical_url(r["url"])
            r["article_id"] = article_id(r["canonical_url"])
            r["text"] = shuffle(r["text"], random.Random(f"{k}-{v}-{j}"))
            r["content_hash"] = content_hash(r["text"])
            r["bands"] = salt(r["bands"], v)
        if prev is not None and j % 100 in (7, 57):  # 20 exact copies of the load before
            src = prev[j]
            for col in ("title", "text", "content_hash", "bands", "word_count"):
                r[col] = src[col]
        elif prev is not None and j % 100 in (31, 81):  # 20 near copies: new first line
            src = prev[j]
            first, _, rest = src["text"].partition("\n")
            r["text"] = f"Updated {datetime.now(UTC):%H:%M}: {first}\n{rest}"
            r["content_hash"] = content_hash(r["text"])
            for col in ("title", "bands", "word_count"):
                r[col] = src[col]
        # text candidates carry no date: a feed's new articles are of the last hours
        r["published_at"] = made - timedelta(minutes=(j * 7) % 360)
        ids[old] = r["article_id"]
    new_rank = {a: n for n, a in enumerate(sorted(ids.values()))}
    remap = [new_rank[ids[a]] for a in old_order]  # old doc number -> new
    # shingles stay the pool row's: the loader leaves them out (articles.sql)
    articles = arts
    for c in wanted:
        i = articles.schema.get_field_index(c)
        field = articles.schema.field(i)
        articles = articles.set_column(i, field, pa.array([r[c] for r in rows], field.type))
    posts = tables[Table.POSTINGS]
    docs = posts["docs"].combine_chunks()
    mapped = np.asarray(remap, dtype=np.int64)[docs.values.to_numpy(zero_copy_only=False)]
    new_docs = pa.ListArray.from_arrays(docs.offsets, pa.array(mapped, docs.type.value_type))
    postings = posts.set_column(posts.schema.get_field_index("docs"), "docs", new_docs)
    sight = tables[Table.SIGHTINGS].to_pylist()
    url_of = {r["article_id"]: r["url"] for r in rows}
    for s in sight:
        s["article_id"] = ids.get(s["article_id"], s["article_id"])
        s["url_seen"] = url_of.get(s["article_id"], s["url_seen"])
        if s.get("guid"):
            s["guid"] = s["url_seen"]
    out_tables = {
        Table.ARTICLES: articles,
        Table.POSTINGS: postings,
        Table.SIGHTINGS: pa.Table.from_pylist(sight, schema=tables[Table.SIGHTINGS].schema),
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    new_id = f"{stamp}-{uuid.uuid4().hex[:12]}"
    folder = out / new_id
    folder.mkdir(parents=True)
    counts = {}
    for name, table in out_tables.items():
        if table.num_rows:
            pq.write_table(table, folder / f"{name}.parquet")
            counts[str(name)] = table.num_rows
    (folder / spool_mod.MANIFEST).write_text(
        json.dumps({"batch_id": new_id, "run_id": f"bench-load-{k}", "tables": counts})
    )
    return rows


def _articles(folder: Path) -> list[dict[str, Any]]:
    """The article rows (the columns copies take) of a load batch made before."""
    table = pq.read_table(
        next(folder.glob("*/articles.parquet")),
        columns=["title", "text", "content_hash", "bands", "word_count"],
    )
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def batches(work: Path, count: int, pool_size: int, offset: int = 0) -> list[Path]:
    """``count`` load batches (folders holding one spooled batch each), each made once and
    kept; ``offset``: the first ``offset`` variants were loaded before (a rerun on a kept
    lake)."""
    from newsflow.tasks import boilerplate as bp

    root = work / f"batches{offset}"
    folders = [root / f"b{k:04d}" for k in range(count)]
    todo = [k for k, f in enumerate(folders) if not list(f.glob("*/_MANIFEST.json"))]
    if not todo:
        return folders
    pools = pool(work, pool_size)
    started = time.perf_counter()
    prev = _articles(folders[todo[0] - 1]) if todo[0] else None
    seen: set[int] = set()
    if prev:
        seen = {h for r in prev[:40] for h, _, _ in bp.units(r["text"])}
    overlap = []
    for k in todo:
        shutil.rmtree(folders[k], ignore_errors=True)
        prev = derive(pools[k % pool_size], k, (k + offset) // pool_size, prev, folders[k])
        # new stories' sentences: the share of a sample's sentence hashes the load before had
        sample = {j: [h for h, _, _ in bp.units(r["text"])] for j, r in enumerate(prev[:40])}
        fresh = [h for j, hs in sample.items() if j % 100 not in (7, 57, 31, 81) for h in hs]
        overlap.append(sum(h in seen for h in fresh) / max(len(fresh), 1))
        seen = {h for hs in sample.values() for h in hs}
    log(
        f"{len(todo)} load batches derived in {time.perf_counter() - started:.0f} s; sentences "
        f"of new stories that the load before had: max {max(overlap):.1%} (a sample of 36 "
        "articles a load)"
    )
    return folders


# ---------------------------------------------------------------- loads (child processes)


class AnonPeak:
    """The process's peak anonymous memory (``RssAnon``), sampled every 20 ms: its own
    memory, where ``VmHWM`` also counts file pages it has mapped (the key index is read
    through ``mmap``: page cache the kernel takes back when it needs it)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def take(self) -> int:
        """The peak since the last ``take``."""
        peak, self.peak = max(self.peak, self.now()), 0
        return peak


def child_load(target: Path, folders: list[Path], commits: Path, profile: Path | None) -> None:
    """Each batch through ``load_spool``, one call per batch; its own peak RSS at the end."""
    from newsflow.warehouse.loader import load_spool

    live = Path(tempfile.mkdtemp(prefix="spool_", dir=target.parent))
    out = []
    anon = AnonPeak()
    for n, folder in enumerate(folders):
        batch = next(p for p in folder.iterdir() if p.is_dir())
        shutil.copytree(batch, live / batch.name)
        prof = cProfile.Profile() if profile and n == 0 else None
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        if prof:
            prof.enable()
        report = load_spool(target, str(live), lock_wait=60)
        if prof:
            prof.disable()
        done = time.perf_counter()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        row = {
            "s": done - started,
            # of which the search index's merge after the commit (readers saw the batch before)
            "merge_s": report.search_merge_seconds,
            "cpu": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
            "loaded": report.loaded,
            "duplicates": report.duplicates,
            "batches": report.batches,
            "committed": time.time(),
            "load_avg": os.getloadavg()[0],
            "profiled": bool(prof),
            "hwm": peak_rss(),  # the process's peak so far: does it grow load after load?
            "anon_peak": anon.take(),  # ... and of its own memory, during this load
        }
        out.append(row)
        with commits.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if prof and profile:
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            stats.sort_stats("cumulative").print_stats(35)
            stats.print_callers(r"\.execute\b|method 'execute'|fetchall|fetchone")
            profile.write_text(buf.getvalue())
    shutil.rmtree(live, ignore_errors=True)
    print(json.dumps({"loads": out, "rss": peak_rss()}))


def child_reader(target: Path, reads: Path, stop: Path) -> None:
    """An analyst's session: the ATTACH line, held open, polling until told to stop."""
    from newsflow.warehouse import lake, storage

    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    lake.load_extensions(con, "ducklake", "sqlite_scanner")  # what INSTALL gives an analyst
    con.execute(storage.attach_line(target))
    with reads.open("a") as f:
        f.write(json.dumps({"open": time.time()}) + "\n")
        while not stop.exists():
            t0 = time.time()
            started = time.perf_counter()
            try:
                n = con.execute("SELECT count(*) FROM news.articles").fetchone()[0]  # type: ignore[index]
                err = None
            except duckdb.Error as error:
                n, err = -1, str(error)[:200]
            q = time.perf_counter() - started
            f.write(json.dumps({"t0": t0, "n": n, "q": q, "err": err}) + "\n")
            f.flush()
            time.sleep(POLL)


def run_loads(
    target: Path, folders: list[Path], work: Path, profile: Path | None
) -> dict[str, Any]:
    commits, reads, stop = work / "commits.jsonl", work / "reads.jsonl", work / "stop"
    for p in (commits, reads, stop):
        p.unlink(missing_ok=True)
    me = [sys.executable, str(Path(__file__).resolve())]
    reader = subprocess.Popen([*me, "--child-reader", str(target), str(reads), str(stop)])
    deadline = time.time() + 120
    while time.time() < deadline and not (reads.exists() and reads.read_text().strip()):
        time.sleep(0.2)
    time.sleep(2 * POLL)  # the session has polled before the first load
    args = [*me, "--child-load", str(target), str(commits), str(profile or "-")]
    proc = subprocess.run([*args, *map(str, folders)], capture_output=True, text=True, check=False)
    time.sleep(3 * POLL)
    stop.touch()
    reader.wait(timeout=120)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-4000:])
    res: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    polls = [json.loads(line) for line in reads.read_text().splitlines()][1:]
    ok = [p for p in polls if p["err"] is None]
    loads = res["loads"]
    base = ok[0]["n"] if ok else 0
    seen, total = 0, base
    for i, m in enumerate(loads):  # a poll begun after this commit, before the next one, saw it
        total += m["loaded"]
        nxt = loads[i + 1]["committed"] if i + 1 < len(loads) else 1e18
        if any(m["committed"] <= p["t0"] < nxt and p["n"] >= total for p in ok):
            seen += 1
    res |= {
        "reader_polls": len(polls),
        "reader_errors": len(polls) - len(ok),
        "reader_error_text": next((p["err"] for p in polls if p["err"]), None),
        "reader_max_ms": max((p["q"] for p in ok), default=float("nan")) * 1000,
        "reader_p50_ms": statistics.median([p["q"] for p in ok]) * 1000 if ok else float("nan"),
        "seen": seen,
    }
    return res


# ---------------------------------------------------------------- queries and storage


def analyst(target: Path) -> duckdb.DuckDBPyConnection:
    from newsflow.warehouse import lake, storage

    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    lake.load_extensions(con, "ducklake", "sqlite_scanner")
    con.execute(storage.attach_line(target))
    con.execute("USE news")
    return con


DAILY_VIEW = """SELECT day, domain, sum(articles) AS articles FROM daily_counts
WHERE day >= current_date - 30 GROUP BY ALL"""
DAILY_PLAIN = """SELECT CAST(published_at AS DATE) AS day, domain, count(*) AS articles
FROM articles WHERE published_at >= now() - INTERVAL 30 DAY GROUP BY ALL"""
# the view's rows for a range of days, read from those days only (warehouse/views/daily_counts)
DAILY_MACRO = """SELECT day, domain, sum(articles) AS articles
FROM daily_counts_between(current_date - 30, current_date) GROUP BY ALL"""


def time_sql(con: duckdb.DuckDBPyConnection, sql: str, repeat: int = 5) -> dict[str, Any]:
    rows = len(con.execute(sql).fetchall())
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        con.execute(sql).fetchall()
        spent.append(time.perf_counter() - started)
    return {"ms": statistics.median(spent) * 1000, "rows": rows}


def searches(con: duckdb.DuckDBPyConnection, body: pa.Table, size: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    everything: list[float] = []
    for kind, items in pick_queries(body, random.Random(size)).items():
        spent, hits = [], 0
        for n, (query, params) in enumerate(items[: SEARCHES + 1]):
            started = time.perf_counter()
            hits += len(run_query(con, query, params))
            if n:  # the first of each kind warms the caches
                spent.append(time.perf_counter() - started)
        everything += spent
        out[kind] = {
            "p50_ms": statistics.median(spent) * 1000,
            "p95_ms": pct(spent, 0.95) * 1000,
            "hits": hits / (SEARCHES + 1),
        }
    out["all"] = {
        "p50_ms": statistics.median(everything) * 1000,
        "p95_ms": pct(everything, 0.95) * 1000,
        "hits": float("nan"),
    }
    return out


def storage(target: Path, work: Path) -> dict[str, Any]:
    """The lake's files (data + catalog) against every table as one zstd Parquet file."""
    ref = work / "parquet_ref"
    shutil.rmtree(ref, ignore_errors=True)
    ref.mkdir()
    con = analyst(target)
    con.execute(f"SET temp_directory = '{work}/tmp'")
    con.execute("SET memory_limit = '8GB'")
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'news'"
        ).fetchall()
    ]
    per: dict[str, int] = {}
    for name in names:
        if con.execute(f"SELECT count(*) FROM news.{name}").fetchone()[0]:  # type: ignore[index]
            con.execute(
                f"COPY (SELECT * FROM news.{name}) TO '{ref}/{name}.parquet' "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
            per[name] = du(ref / f"{name}.parquet")
    lake_tables = {
        r[0]: int(r[1])
        for r in con.execute(
            "SELECT table_name, file_size_bytes FROM ducklake_table_info('news')"
        ).fetchall()
    }
    con.close()
    shutil.rmtree(ref, ignore_errors=True)
    data = du(Path(f"{target}.files"))
    from newsflow.warehouse.storage import keys_path

    # the loader's key index (news.ducklake.keys*) is a per-machine cache, reported apart
    keys = keys_path(f"sqlite:{target}")
    beside = [p for p in target.parent.glob(f"{target.name}*") if p.is_file()]
    index = [p for p in beside if p.name.startswith(keys.name)]
    return {
        "data": data,
        "catalog": sum(du(p) for p in beside if p not in index),
        "key_index": sum(du(p) for p in index),
        "parquet": sum(per.values()),
        "parquet_by_table": per,
        "lake_by_table": lake_tables,
    }


def explain_daily(con: duckdb.DuckDBPyConnection) -> str:
    """EXPLAIN ANALYZE of both daily-counts queries: files and rows read."""
    out = []
    for name, sql in (("view", DAILY_VIEW), ("plain", DAILY_PLAIN)):
        plan = con.execute("EXPLAIN ANALYZE " + sql).fetchall()
        text = "\n".join(str(r[1]) for r in plan)
        keep = [
            line
            for line in text.splitlines()
            if re.search(
                r"(?i)scan|rows|files|filters|total time|ducklake|partition|\d+ rows", line
            )
        ]
        out.append(f"--- {name}\n" + "\n".join(keep[:60]))
    return "\n".join(out)


# ---------------------------------------------------------------- the run


def measure(
    res: dict[str, Any],
    loads: int,
    work: Path,
    body: pa.Table,
    bp: pa.Table,
    units: dict[int, int],
    pool_size: int,
    profile: bool,
    reuse: bool,
    save: Callable[[], None],
    largest: bool = False,
    with_storage: bool = True,
) -> None:
    """Every figure at ``res["size"]`` into ``res``, saved (``save``) after each step."""
    size = res["size"]
    target = lake_path(work, size)
    marker = target.parent / "built.json"
    offset = 0
    # the empty lake is always made afresh: it is the baseline (and takes a second)
    if size and reuse and marker.exists() and json.loads(marker.read_text()).get("size") == size:
        res["build"] = json.loads(marker.read_text()) | {"reused": True}
        offset = res["build"].get("loaded_variants", 0)
        log(f"{size:,}: reusing the lake built before ({target})")
    else:
        started = time.perf_counter()
        res["build"] = build(work, size, body, bp, units)
        res["build"]["total_s"] = time.perf_counter() - started
        res["build"]["size"] = size
        marker.write_text(json.dumps(res["build"]))
    res["bytes_built"] = du(target.parent)
    b = res["build"]
    log(
        f"{size:,}: built in {b.get('total_s', 0):.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in b['build_s'].items())}), "
        f"{gb(res['bytes_built'])}, load average {os.getloadavg()[0]:.1f}"
    )
    folders = batches(work, loads + (1 if profile else 0), pool_size, offset)
    # a rerun on this lake must load variants it has not seen
    done = offset + -(-len(folders) // pool_size) * pool_size + pool_size
    marker.write_text(json.dumps({**res["build"], "loaded_variants": done, "reused": False}))
    # read-side figures on the bulk-built lake first (at 1M the loads take hours)
    save()
    # search before the loads only at the largest size (its loads take hours)
    res["before"] = read_side(target, body, size, "before the loads", search=largest)
    save()
    if size and with_storage:
        res["storage_before"] = measure_storage(target, work, size, "before the loads")
        save()
    prof = work / f"profile{size}.txt" if profile else None
    started = time.perf_counter()
    res |= run_loads(target, folders, work, prof)
    log(
        f"{size:,}: {len(res['loads'])} loads in {time.perf_counter() - started:.0f} s; "
        + summarize_loads(res)
    )
    if prof and prof.exists():
        res["profile"] = str(prof)
    save()
    res["after"] = read_side(target, body, size, "after the loads")
    save()
    if size and with_storage:
        res["storage"] = measure_storage(target, work, size, "after the loads")


def read_side(
    target: Path, body: pa.Table, size: int, when: str, search: bool = True
) -> dict[str, Any]:
    """Daily counts (view and plain query), their plans, and search, on the ATTACH line."""
    out: dict[str, Any] = {}
    con = analyst(target)
    out["articles"] = con.execute("SELECT count(*) FROM articles").fetchone()[0]  # type: ignore[index]
    out["daily_view"] = time_sql(con, DAILY_VIEW)
    out["daily_plain"] = time_sql(con, DAILY_PLAIN)
    out["daily_macro"] = time_sql(con, DAILY_MACRO)
    log(
        f"{size:,} {when}: daily counts, last 30 days: view {out['daily_view']['ms']:.0f} ms, "
        f"plain query {out['daily_plain']['ms']:.0f} ms ({out['daily_plain']['rows']} rows), "
        f"daily_counts_between {out['daily_macro']['ms']:.0f} ms"
    )
    out["explain_daily"] = explain_daily(con)
    out["search"] = searches(con, body, size) if search else {}
    con.close()
    for kind, v in out["search"].items():
        log(
            f"  search {kind:22} p50 {v['p50_ms']:7.0f} ms  p95 {v['p95_ms']:7.0f} ms  "
            f"hits {v['hits']:.1f}"
        )
    return out


def measure_storage(target: Path, work: Path, size: int, when: str) -> dict[str, Any]:
    started = time.perf_counter()
    s = storage(target, work)
    log(
        f"{size:,} {when}: lake {gb(s['data'] + s['catalog'])} (data {gb(s['data'])}, catalog "
        f"{gb(s['catalog'])}) vs zstd Parquet {gb(s['parquet'])}: "
        f"{(s['data'] + s['catalog']) / s['parquet']:.2f}x "
        f"(measured in {time.perf_counter() - started:.0f} s)"
    )
    return s


def visible_s(m: dict[str, Any]) -> float:
    """A load's time until readers see its rows: less the merge after its commit."""
    return float(m["s"]) - float(m.get("merge_s", 0.0))


def summarize_loads(res: dict[str, Any]) -> str:
    ts = [visible_s(m) for m in res["loads"] if not m["profiled"]]
    med = statistics.median(ts)
    counts = sorted({(m["loaded"], m["duplicates"]) for m in res["loads"]})
    parts = [
        f"load 1k median {med:.2f} s, p95 {pct(ts, 0.95):.2f} s, max {max(ts):.2f} s "
        f"(max/median {max(ts) / med:.2f}x)",
        f"CPU median {statistics.median(m['cpu'] for m in res['loads']):.2f} s",
        f"loader peak RSS {res['rss'] / 1e6:.0f} MB"
        + (
            f" (after its first load {res['loads'][0]['hwm'] / 1e6:.0f} MB)"
            if "hwm" in res["loads"][0]
            else ""
        ),
        f"reader: {res['reader_polls']} polls, {res['reader_errors']} errors, slowest "
        f"{res['reader_max_ms']:.0f} ms, saw {res['seen']}/{len(res['loads'])} commits",
        f"(loaded, duplicates) per load: {counts[:6]}",
        f"load average during loads {statistics.median(m['load_avg'] for m in res['loads']):.1f}",
    ]
    if len(ts) >= 40:
        first, last = statistics.median(ts[:20]), statistics.median(ts[-20:])
        parts.append(f"first 20 median {first:.2f} s, last 20 {last:.2f} s ({last / first:.2f}x)")
    return "\n    ".join(parts)


def _reads(lines: list[str], q: dict[str, Any], when: str) -> None:
    lines.append(
        f"  {when} ({q['articles']:,} articles): daily counts by domain, last 30 days: "
        f"daily_counts view {q['daily_view']['ms']:.0f} ms, plain query on articles "
        f"{q['daily_plain']['ms']:.0f} ms ({q['daily_plain']['rows']} rows)"
        + (f", daily_counts_between {q['daily_macro']['ms']:.0f} ms" if "daily_macro" in q else "")
    )
    lines.append("    search_articles from SQL, p50 / p95 ms, hits per query:")
    for kind, v in q["search"].items():
        lines.append(f"      {kind:22} {v['p50_ms']:7.0f} {v['p95_ms']:7.0f}   {v['hits']:.1f}")


def _storage(lines: list[str], s: dict[str, Any], when: str) -> None:
    lake_bytes = s["data"] + s["catalog"]
    lines.append(
        f"  storage {when}: lake {gb(lake_bytes)} (data files {gb(s['data'])}, catalog "
        f"{gb(s['catalog'])}) vs the same rows as zstd Parquet {gb(s['parquet'])}: "
        f"{lake_bytes / s['parquet']:.2f}x; the loader's key index beside it (per loading "
        f"machine, derived) {gb(s.get('key_index', 0))}"
    )
    big = sorted(s["parquet_by_table"].items(), key=lambda kv: -kv[1])[:6]
    lines.append(
        "    by table, lake / Parquet: "
        + "; ".join(f"{k} {gb(s['lake_by_table'].get(k, 0))} / {gb(v)}" for k, v in big)
    )


def report(results: list[dict[str, Any]], argv: list[str], started: datetime) -> str:
    lines = [
        f"$ {' '.join(argv)}",
        f"started {started:%Y-%m-%d %H:%M} UTC, report at {datetime.now(UTC):%Y-%m-%d %H:%M} "
        f"UTC; 2 shared cores, load average now {os.getloadavg()[0]:.1f}",
        "",
    ]
    base = next((r for r in results if r["size"] == 0 and "loads" in r), None)
    base_med = (
        statistics.median(visible_s(m) for m in base["loads"] if not m["profiled"])
        if base
        else float("nan")
    )
    for r in sorted(results, key=lambda r: int(r["size"])):
        lines.append(f"--- {r['size']:,} articles")
        b = r.get("build")
        if b:
            lines.append(
                f"  bulk build {b.get('total_s', 0):.0f} s: "
                + ", ".join(f"{k} {v:.0f} s" for k, v in b["build_s"].items())
                + (" (reused)" if b.get("reused") else "")
                + f"; {gb(r.get('bytes_built', 0))} on disk"
            )
        if "before" in r:
            _reads(lines, r["before"], "before the loads")
        if "storage_before" in r:
            _storage(lines, r["storage_before"], "before the loads")
        if "loads" not in r:
            lines.append("  (loads not finished)")
            lines.append("")
            continue
        ts = [visible_s(m) for m in r["loads"] if not m["profiled"]]
        med = statistics.median(ts)
        lines.append(
            f"  loads of 1,000 ({len(ts)} timed), until readers see them: median {med:.2f} s = "
            f"{med / base_med:.2f}x the empty lake; p95 {pct(ts, 0.95):.2f} s; max "
            f"{max(ts):.2f} s; max/median {max(ts) / med:.2f}x; loads over 1.5x the median: "
            f"{sum(t > 1.5 * med for t in ts)}"
        )
        whole = [m["s"] for m in r["loads"] if not m["profiled"]]
        merges = [m.get("merge_s", 0.0) for m in r["loads"] if m.get("merge_s", 0.0) > 0]
        lines.append(
            f"    the whole load_spool call, with the search index's merge after the commit: "
            f"median {statistics.median(whole):.2f} s, max {max(whole):.2f} s "
            f"({max(whole) / statistics.median(whole):.2f}x); {len(merges)} merges, "
            + (f"median {statistics.median(merges):.2f} s" if merges else "none")
        )
        if len(ts) >= 40:
            first, last = statistics.median(ts[:20]), statistics.median(ts[-20:])
            lines.append(
                f"    first 20 median {first:.2f} s, last 20 median {last:.2f} s "
                f"({last / first:.2f}x)"
            )
        cpu = [m["cpu"] for m in r["loads"] if not m["profiled"]]
        lines.append(
            f"    loader CPU per load median {statistics.median(cpu):.2f} s (max "
            f"{max(cpu):.2f} s); load average during the loads "
            f"{statistics.median(m['load_avg'] for m in r['loads']):.1f}"
        )
        counts: dict[tuple[int, int], int] = {}
        for m in r["loads"]:
            key = (m["loaded"], m["duplicates"])
            counts[key] = counts.get(key, 0) + 1
        lines.append(
            "    loader's counts per load (new articles, of which duplicates) x loads: "
            + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
        )
        lines.append(f"  loader peak RSS (VmHWM of the loading process) {r['rss'] / 1e6:.0f} MB")
        anon = [m["anon_peak"] for m in r["loads"] if "anon_peak" in m]
        if anon:
            lines.append(
                "    of which its own memory (peak RssAnon during a load, the rest is mapped "
                f"file pages): median {statistics.median(anon) / 1e6:.0f} MB, max "
                f"{max(anon) / 1e6:.0f} MB, first load {anon[0] / 1e6:.0f} MB"
            )
        lines.append(
            f"  reader (the ATTACH line, one session through all loads): {r['reader_polls']} "
            f"polls, {r['reader_errors']} errors, p50 {r['reader_p50_ms']:.0f} ms, "
            f"slowest {r['reader_max_ms']:.0f} ms; saw {r['seen']} of {len(r['loads'])} "
            "commits (a poll begun after a commit, before the next, saw its rows)"
        )
        if r["reader_error_text"]:
            lines.append(f"    first error: {r['reader_error_text']}")
        if "after" in r:
            _reads(lines, r["after"], "after the loads")
        if "storage" in r:
            _storage(lines, r["storage"], "after the loads")
        lines.append("")
    return "\n".join(lines)


def details(results: list[dict[str, Any]]) -> str:
    out = []
    for r in results:
        for when in ("before", "after"):
            if when in r:
                out.append(
                    f"--- EXPLAIN ANALYZE, daily counts at {r['size']:,}, {when} the loads\n"
                    + r[when]["explain_daily"]
                )
        if r.get("profile") and Path(r["profile"]).exists():
            out.append(
                f"--- profile of the first load at {r['size']:,}\n"
                + Path(r["profile"]).read_text()[:15000]
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="0,100000,1000000", help="comma-separated, 0: empty; run in this order"
    )
    parser.add_argument("--loads", type=int, default=20, help="loads of 1,000 below 1M")
    parser.add_argument("--big-loads", type=int, default=200, help="loads of 1,000 at >= 1M")
    parser.add_argument("--pool", type=int, default=10, help="batches processed by the stages")
    parser.add_argument("--work", help="scratch directory, kept (default: a temporary one)")
    parser.add_argument("--out", help="write the report to this file too")
    parser.add_argument("--json", help="write every figure to this JSON file")
    parser.add_argument(
        "--profile", action="store_true", help="profile the first load at the largest size"
    )
    parser.add_argument("--reuse", action="store_true", help="reuse lakes built before in --work")
    parser.add_argument(
        "--no-storage",
        action="store_true",
        help="skip the storage comparison (it writes every table as Parquet: minutes at 1M)",
    )
    args = parser.parse_args()
    # in the order given: "0,1000000,100000" has the 1M figures before the 100k ones
    sizes = list(dict.fromkeys(int(s) for s in args.sizes.split(",")))
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_lake_"))
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    log(f"bench_lake_scale: sizes {sizes}, scratch {work}, load average {os.getloadavg()}")
    body, bp, units = corpus(work)
    words = statistics.mean(len(t.split()) for t in body["text"].to_pylist()[:500])
    kb = statistics.mean(len(t.encode()) for t in body["text"].to_pylist()[:500]) / 1000
    log(
        f"bodies: {BLOCKS} spliced texts, mean {words:.0f} words / {kb:.1f} KB; "
        f"{bp.num_rows:,} postings, {statistics.mean(units.values()):.0f} sentences each"
    )
    results: list[dict[str, Any]] = []

    def save() -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        if args.out:
            Path(args.out).write_text(report(results, sys.argv, started) + "\n")

    try:
        for size in sizes:
            loads = args.big_loads if size >= 1_000_000 else args.loads
            res: dict[str, Any] = {"size": size}
            results.append(res)
            measure(
                res,
                loads,
                work,
                body,
                bp,
                units,
                args.pool,
                args.profile and size == max(sizes),
                args.reuse,
                save,
                largest=size == max(sizes),
                with_storage=not args.no_storage,
            )
            save()
    finally:
        save()
        print("\n" + report(results, sys.argv, started))
        print(details(results))
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-load":
        prof = None if sys.argv[4] == "-" else Path(sys.argv[4])
        child_load(Path(sys.argv[2]), [Path(p) for p in sys.argv[5:]], Path(sys.argv[3]), prof)
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-reader":
        child_reader(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        main()
