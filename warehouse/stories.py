"""Near-duplicate links decided on the story, against each cluster's representative.

Used by the loader for every batch's new articles (``link_new``) and by ``backfill --mode
rededup`` to recompute the links of a whole warehouse (``relink``) with the same steps, so
both give the same links. The rule itself is tasks/boilerplate.py; here is the bookkeeping:

1. Each new article's sentences are looked up in ``text_units`` (how many distinct stories,
   per domain, contain them); those that are boilerplate are left out of its text.
2. Candidates share an LSH band key (tasks.near_duplicates) with an article of the warehouse or an
   earlier article of the batch; besides the worker's keys of the whole text, an article
   that lost sentences as boilerplate also gets keys of its stripped text, so a copy under
   other furniture is still proposed.
3. A candidate's cluster is verified on its representative (the root, ``duplicate_of``
   NULL) only, never on another member, so no chain A~B~C links two different stories.
   Up to ``MAX_CLUSTERS`` clusters are tried, earliest representative first.
4. An article that joins no cluster is a new story: its sentences count once more in
   ``text_units`` (copies never count, so a story syndicated a hundred times does not turn
   into boilerplate). Every link is stored with its evidence in ``duplicate_links``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from newsflow.tasks import boilerplate as bp
from newsflow.tasks.contract import BANDS
from newsflow.tasks.near_duplicates import band_keys, shingle_hashes, signature
from newsflow.warehouse.db import rows_by_ids
from newsflow.warehouse.keys import KeyIndex
from newsflow.warehouse.lake import is_lake

MAX_CLUSTERS = 16
# A sentence shared verbatim is evidence of one story only when it is long enough to be the
# story's own: short ones ("He said.", "Police arrived.") recur across unrelated stories
# until the counts call them boilerplate, and each proposed past stories to fetch and compare
# (most of a load's time once thousands of stories were loaded).
EVIDENCE_WORDS = 6
# ... and shared sentences propose a past story only when they are at least this share of
# the article's own (evidence) sentences, or at least EVIDENCE_SENTENCES of them: one
# sentence in common with an article of 20 or more is a quotation, not a copy (a copy under
# other furniture shares most of its sentences; a reworded one is proposed by its band
# keys). At 1M bench articles, 836 of a batch's 837 past stories proposed by sentences
# shared exactly one with an article of about 100. (A quarter instead of a tenth lost a
# brief's copy in eval/neardup_hard.py at seed 6.)
EVIDENCE_SHARE = 0.1
EVIDENCE_SENTENCES = 2


@dataclass(slots=True)
class NewArticle:
    article_id: str
    domain: str
    text: str
    content_hash: str
    ingested_at: datetime
    bands: list[int]


@dataclass(frozen=True, slots=True)
class Link:
    article_id: str
    representative: str
    verdict: bp.Verdict
    stripped: int  # sentences of the two texts left out as boilerplate


class Counts:
    """Stories per sentence, per domain and overall, as of the articles decided so far
    (read from ``text_units``, or on a lake from its key index, ``keys``)."""

    def __init__(self, keys: KeyIndex | None = None) -> None:
        self.keys = keys
        self.domain: dict[tuple[int, str], int] = {}
        self.total: dict[int, int] = {}
        self.added: dict[tuple[int, str], tuple[int, str, datetime]] = {}
        self.first: dict[int, list[str]] = {}  # the stories that brought each sentence in
        self.stored: set[tuple[int, str]] = set()  # the keys text_units holds

    def load(self, con: duckdb.DuckDBPyConnection, hashes: set[int]) -> None:
        wanted = [h for h in hashes if h not in self.total]
        if not wanted:
            return
        rows: list[Any] = self.keys.units(wanted) if self.keys else self._read(con, wanted)
        for h in wanted:
            self.total[h] = 0
        for h, domain, stories, first in rows:
            self.domain[(h, domain)] = stories
            self.stored.add((h, domain))
            self.total[h] += stories
            self.first.setdefault(h, []).append(first)

    @staticmethod
    def _read(con: duckdb.DuckDBPyConnection, wanted: list[int]) -> list[Any]:
        con.register("su_wanted", pa.table({"unit_hash": pa.array(wanted, pa.int64())}))
        try:
            rows: list[Any] = con.execute(
                "SELECT unit_hash, domain, stories, first_article FROM text_unit_stories "
                "WHERE unit_hash IN (SELECT unit_hash FROM su_wanted)"
            ).fetchall()
        finally:
            con.unregister("su_wanted")
        return rows

    def seen_elsewhere(self, parts: list[bp.Unit], domain: str, own: int) -> frozenset[int]:
        """The sentences of ``parts`` that more than ``own`` stories of ``domain`` contain
        (``own``: 1 when the text is itself a counted story)."""
        return frozenset(h for h, _, _ in parts if self.domain.get((h, domain), 0) > own)

    def boilerplate(self, parts: list[bp.Unit], domain: str) -> frozenset[int]:
        return bp.boilerplate_of((h for h, _, _ in parts), domain, self.domain, self.total)

    def learn(self, parts: list[bp.Unit], domain: str, article_id: str, at: datetime) -> None:
        for h in {h for h, _, _ in parts}:
            key = (h, domain)
            if key not in self.domain:  # as text_units.first_article will say
                self.first.setdefault(h, []).append(article_id)
            self.domain[key] = self.domain.get(key, 0) + 1
            self.total[h] = self.total.get(h, 0) + 1
            n, first, first_at = self.added.get(key, (0, article_id, at))
            self.added[key] = (n + 1, first, first_at)

    def save(self, con: duckdb.DuckDBPyConnection) -> None:
        """Write the counts learned since the last save. On a lake the keys new to
        ``text_units`` are appended to it and the rest to ``text_unit_deltas``, so a load
        never rewrites ``text_units`` (finding the rows to update joins the whole table);
        maintenance folds the deltas in. The single file merges in place."""
        if not self.added:
            return
        keys = list(self.added)
        table = pa.table(
            {
                "unit_hash": pa.array([k[0] for k in keys], pa.int64()),
                "domain": [k[1] for k in keys],
                "stories": pa.array([self.added[k][0] for k in keys], pa.int32()),
                "first_article": [self.added[k][1] for k in keys],
                "first_seen": pa.array([self.added[k][2] for k in keys], pa.timestamp("us", "UTC")),
                "stored": pa.array([k in self.stored for k in keys], pa.bool_()),
            }
        )
        con.register("su_added", table)
        try:
            if is_lake(con):
                con.execute(
                    "INSERT INTO text_units BY NAME SELECT * EXCLUDE (stored) FROM su_added "
                    "WHERE NOT stored"
                )
                con.execute(
                    "INSERT INTO text_unit_deltas BY NAME SELECT unit_hash, domain, stories, "
                    "first_seen AS added_at FROM su_added WHERE stored"
                )
            else:
                con.execute(
                    "MERGE INTO text_units USING su_added AS n "
                    "ON text_units.unit_hash = n.unit_hash AND text_units.domain = n.domain "
                    "WHEN MATCHED THEN UPDATE SET stories = text_units.stories + n.stories "
                    "WHEN NOT MATCHED THEN INSERT (unit_hash, domain, stories, first_article, "
                    "first_seen) VALUES (n.unit_hash, n.domain, n.stories, n.first_article, "
                    "n.first_seen)"
                )
        finally:
            con.unregister("su_added")
        self.stored.update(keys)
        self.added.clear()


def _stripped_keys(parts: list[bp.Unit], boiler: frozenset[int]) -> list[int]:
    """LSH band keys of the text without its boilerplate sentences ([] if none was left out)."""
    if not any(h in boiler for h, _, _ in parts):
        return []
    words = [w for h, ws, _ in parts if h not in boiler for w in ws]
    return signature(shingle_hashes(words)) if words else []


class Representatives:
    """Parsed sentences of representatives recently compared, by (article_id, content_hash):
    owned by a loader, which keeps it across its batches (popular stories come back)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._parts: OrderedDict[tuple[str, str], tuple[str, list[bp.Unit]]] = OrderedDict()

    def get(
        self,
        con: duckdb.DuckDBPyConnection,
        wanted: dict[str, str],
        keys: KeyIndex | None = None,
    ) -> dict[str, tuple[str, list[bp.Unit]]]:
        """(domain, sentences) of past representatives, ``wanted`` as {id: content_hash}.
        ``keys``: on a lake, its key index, whose dates let the read skip other days' files."""
        out: dict[str, tuple[str, list[bp.Unit]]] = {}
        missing = []
        for aid, chash in wanted.items():
            found = self._parts.get((aid, chash))
            if found is None:
                missing.append(aid)
            else:
                self._parts.move_to_end((aid, chash))
                out[aid] = found
        for aid, domain, chash, text in _texts(con, missing, keys):
            out[aid] = self._parts[(aid, chash)] = (domain, bp.units(text))
        while len(self._parts) > self.size:
            self._parts.popitem(last=False)
        return out


_TEXTS = (
    "SELECT article_id, coalesce(domain, ''), content_hash, text FROM articles "
    "WHERE article_id IN ({ids})"
)


def _texts(
    con: duckdb.DuckDBPyConnection, ids: list[str], keys: KeyIndex | None
) -> list[tuple[Any, ...]]:
    """(article_id, domain, content_hash, text) of these articles.

    On a lake, ``articles`` is partitioned by the day of ``published_at``, and an id alone
    prunes no file: every day's files would be read. The key index knows each article's
    ``published_at``, so the ids are asked with their timestamps (``published_at IN``, which
    DuckLake prunes to those days' files; an ``OR published_at IS NULL`` in the same filter
    would prune nothing, so the undated are asked apart). An id the index does not know, or
    whose row was not found at that date (revised since), is asked by id alone."""
    if keys is None or not ids:
        return list(rows_by_ids(con, _TEXTS, ids))
    dates = keys.published(ids)
    dated = [aid for aid in ids if dates.get(aid) is not None]
    undated = [aid for aid in ids if aid in dates and dates[aid] is None]
    rows: list[tuple[Any, ...]] = []
    for i in range(0, len(dated), _IDS_PER_READ):
        part = dated[i : i + _IDS_PER_READ]
        stamps = sorted({dates[aid] for aid in part}, key=str)
        sql = _TEXTS.format(ids=", ".join("?" * len(part)))
        sql += f" AND published_at IN ({', '.join('?' * len(stamps))})"
        rows += con.execute(sql, [*part, *stamps]).fetchall()
    rows += rows_by_ids(con, _TEXTS + " AND published_at IS NULL", undated, _IDS_PER_READ)
    found = {r[0] for r in rows}
    return rows + list(rows_by_ids(con, _TEXTS, [aid for aid in ids if aid not in found]))


_IDS_PER_READ = 500


def link_new(
    con: duckdb.DuckDBPyConnection,
    articles: list[NewArticle],
    counts: Counts | None = None,
    *,
    representatives: Representatives | None = None,
    keys: KeyIndex | None = None,
) -> tuple[dict[str, Link], dict[str, list[int]]]:
    """Decide which of ``articles`` (new, not exact copies) join an earlier story's cluster.

    Returns the links, and the extra band keys (of stripped texts) to store per article.
    ``text_units`` is updated with the new stories' sentences. ``keys``: on a lake, its key
    index, which answers the lookups by key (the same answers as the SQL, without a scan).
    """
    counts = counts or Counts(keys)
    representatives = representatives or Representatives()
    parts = {a.article_id: bp.units(a.text) for a in articles}
    counts.load(con, {h for p in parts.values() for h, _, _ in p})
    extra = {}
    band_pairs: list[tuple[str, int]] = []
    # the counts do not change before the loop that decides (it learns): made once here
    boilers = {a.article_id: counts.boilerplate(parts[a.article_id], a.domain) for a in articles}
    for a in articles:
        a.bands = list(a.bands or [])  # batches spooled before migration 003 have none
        own = parts[a.article_id]
        more = _stripped_keys(own, boilers[a.article_id])
        if more:
            extra[a.article_id] = [k for k in more if k not in set(a.bands)]
        band_pairs += [(a.article_id, k) for k in dict.fromkeys(a.bands + more)]
    # (new id, past article, shared keys) -> grouped by the past article's representative.
    past: list[Any] = []
    within: list[Any] = []
    if band_pairs:
        con.register(
            "nd_keys",
            pa.table(
                {
                    "article_id": [k[0] for k in band_pairs],
                    "band_key": pa.array([k[1] for k in band_pairs], pa.int64()),
                }
            ),
        )
        try:
            past = _past(con, keys, [k[1] for k in band_pairs])
            within = con.execute(
                "SELECT k.article_id, e.article_id, count(*) FROM nd_keys k "
                "JOIN nd_keys e USING (band_key) WHERE e.article_id <> k.article_id GROUP BY ALL"
            ).fetchall()
        finally:
            con.unregister("nd_keys")
    # Sentences a new article shares verbatim with a story (not boilerplate) propose that
    # story too: the warehouse knows which story brought each sentence in (text_units), so
    # a copy whose band keys differ (other furniture, short text) is still found.
    by_sentence: dict[str, dict[str, float]] = {}
    proposing: dict[str, set[str]] = {}  # the stories an article's sentences propose
    batch_sentences: dict[int, list[str]] = {}
    for a in articles:
        own = parts[a.article_id]
        boiler = boilers[a.article_id]
        evidence = {h for h, ws, _ in own if h not in boiler and len(ws) >= EVIDENCE_WORDS}
        weights: dict[str, float] = {}
        in_common: dict[str, int] = {}
        for h in evidence:
            firsts = counts.first.get(h, [])
            for first in firsts:  # a sentence of fewer stories is stronger evidence
                weights[first] = weights.get(first, 0.0) + 1.0 / len(firsts)
                in_common[first] = in_common.get(first, 0) + 1
            batch_sentences.setdefault(h, []).append(a.article_id)
        if weights:
            by_sentence[a.article_id] = weights
        enough = min(EVIDENCE_SENTENCES, EVIDENCE_SHARE * len(evidence))
        proposing[a.article_id] = {f for f, n in in_common.items() if n >= enough}
    # Candidate representatives per new article: (evidence, ingested_at, content_hash); the
    # evidence is the share of band keys in common plus the shared sentences, each weighted
    # by how few stories have it.
    candidates: dict[str, dict[str, tuple[float, datetime, str | None]]] = {}
    for aid, root, chash, root_at, shared in past:
        candidates.setdefault(aid, {})[root] = (shared / BANDS, root_at, chash)
    firsts = sorted({f for found in proposing.values() for f in found})
    known: dict[str, tuple[datetime, str]] = {}
    sql = (
        "SELECT article_id, content_hash, ingested_at FROM articles "
        "WHERE article_id IN ({ids}) AND duplicate_of IS NULL"
    )
    if keys is None:
        for aid, chash, at in rows_by_ids(con, sql, firsts):
            known[aid] = (at, chash)
    else:
        for aid, (chash, at, _, root) in keys.articles(firsts).items():
            if root:
                known[aid] = (at, chash)
    for _, root, chash, root_at, _ in past:
        known.setdefault(root, (root_at, chash))
    # (sentences too few to propose a story still add to the evidence of one proposed)
    for aid, found in by_sentence.items():
        for first, weight in found.items():
            if first in known and (first in proposing[aid] or first in candidates.get(aid, {})):
                at, chash = known[first]
                score = candidates.get(aid, {}).get(first, (0.0, at, chash))[0] + weight
                candidates.setdefault(aid, {})[first] = (score, at, chash)
    by_id = {a.article_id: a for a in articles}
    order = sorted(articles, key=lambda a: (a.ingested_at, a.article_id))
    rank = {a.article_id: i for i, a in enumerate(order)}
    pairs: dict[tuple[str, str], float] = {}
    for aid, other, shared in within:
        pairs[(aid, other)] = pairs.get((aid, other), 0.0) + shared / BANDS
    for ids in batch_sentences.values():
        if len(ids) > 50:  # furniture not learned yet, not evidence of one story
            continue
        for aid in ids:
            for other in ids:
                if other != aid:
                    pairs[(aid, other)] = pairs.get((aid, other), 0.0) + 1.0 / len(ids)
    later: dict[str, list[tuple[str, float]]] = {}
    for (aid, other), shared in pairs.items():
        if rank[other] < rank[aid]:
            later.setdefault(aid, []).append((other, shared))
    # The past representatives the articles will most likely be compared with (each one's
    # best candidates), read in one query per batch with their sentences' counts: asked per
    # article, each query scans the lake's article ids (and text_units' hashes) once more.
    # One the loop needs beyond these (reached through this batch's members) is read then.
    ahead: dict[str, str] = {}
    for options in candidates.values():
        best = sorted(options.items(), key=lambda kv: -kv[1][0])[:MAX_CLUSTERS]
        ahead.update({r: c for r, (_, _, c) in best if c is not None and r not in by_id})
    pool = representatives.get(con, ahead, keys) if ahead else {}
    counts.load(con, {h for _, rep in pool.values() for h, _, _ in rep})
    roots: dict[str, str] = {}  # new article -> its representative
    links: dict[str, Link] = {}
    # A representative is compared with many articles of a batch: its substantive text is
    # made once per boilerplate set, and only for articles compared at all (on 181 real
    # pages, 717 calls for 181 articles: most of the load's time was spent shingling the
    # same sentences again).
    made: dict[str, tuple[tuple[frozenset[int], frozenset[int]], bp.Story]] = {}

    def story(
        aid: str, parts: list[bp.Unit], boiler: frozenset[int], domain: str, own: int
    ) -> bp.Story:
        seen = counts.seen_elsewhere(parts, domain, own)
        found = made.get(aid)
        if found is None or found[0] != (boiler, seen):
            found = made[aid] = ((boiler, seen), bp.substantive(parts, boiler, seen))
        return found[1]

    for a in order:
        mine_parts = parts[a.article_id]
        options = dict(candidates.get(a.article_id, {}))
        for other, shared in later.get(a.article_id, []):
            root = roots.get(other, other)
            if root in options:
                continue
            if root in by_id:
                options[root] = (shared, by_id[root].ingested_at, None)
            elif root in known:  # a past representative reached through this batch's member
                options[root] = (shared, known[root][0], known[root][1])
        shortlist = sorted(options.items(), key=lambda kv: -kv[1][0])[:MAX_CLUSTERS]
        shortlist.sort(key=lambda kv: (kv[1][1], kv[0]))
        past_wanted = {r: c for r, (_, _, c) in shortlist if c is not None and r not in by_id}
        reps = {r: pool[r] for r in past_wanted if r in pool}
        rest = {r: c for r, c in past_wanted.items() if r not in pool}
        if rest:
            reps |= (fetched := representatives.get(con, rest, keys))
            # The representatives' own furniture is stripped too: their sentences' counts.
            counts.load(con, {h for _, rep in fetched.values() for h, _, _ in rep})
        mine_boiler = counts.boilerplate(mine_parts, a.domain)
        for root, _ in shortlist:
            if root in by_id:
                their_domain, their_parts = by_id[root].domain, parts[root]
            elif root in reps:
                their_domain, their_parts = reps[root]
            else:
                continue
            their_boiler = counts.boilerplate(their_parts, their_domain)
            # made when there is a story to compare with (most new articles have none)
            # the new article is not counted yet; a story counts itself (own)
            mine = story(a.article_id, mine_parts, mine_boiler, a.domain, 0)
            theirs = story(root, their_parts, their_boiler, their_domain, 1)
            verdict = bp.same_story(mine, theirs)
            if verdict.same:
                left_out = sum(h in mine_boiler for h, _, _ in mine_parts) + sum(
                    h in their_boiler for h, _, _ in their_parts
                )
                links[a.article_id] = Link(a.article_id, root, verdict, left_out)
                roots[a.article_id] = root
                break
        else:
            counts.learn(mine_parts, a.domain, a.article_id, a.ingested_at)
    counts.save(con)
    return links, extra


_PAST = (
    "SELECT p.aid, r.article_id, r.content_hash, r.ingested_at, max(p.shared) "
    "FROM (SELECT k.article_id AS aid, b.article_id AS other, count(*) AS shared "
    "  FROM nd_keys k JOIN {bands} b USING (band_key) GROUP BY ALL) p "
    "JOIN {articles} a ON a.article_id = p.other "
    "JOIN {articles} r ON r.article_id = coalesce(a.cluster_id, a.article_id) "
    "GROUP BY ALL"
)


def _past(con: duckdb.DuckDBPyConnection, keys: KeyIndex | None, band_keys: list[int]) -> list[Any]:
    """(new article, past representative, its content hash and ingest time, shared keys)
    for the band keys in ``nd_keys``: from ``article_bands`` and ``articles``, or from the
    rows of them the key index holds for these keys (registered, the same query)."""
    if keys is None:
        return con.execute(_PAST.format(bands="article_bands", articles="articles")).fetchall()
    bands = keys.bands(band_keys)
    found = keys.articles({a for _, a in bands})
    found |= keys.articles({c for _, _, c, _ in found.values()} - set(found))
    con.register(
        "keys_bands",
        pa.table(
            {
                "band_key": pa.array([b[0] for b in bands], pa.int64()),
                "article_id": pa.array([b[1] for b in bands], pa.string()),
            }
        ),
    )
    con.register(
        "keys_articles",
        pa.table(
            {
                "article_id": pa.array(list(found), pa.string()),
                "cluster_id": pa.array([v[2] for v in found.values()], pa.string()),
                "content_hash": pa.array([v[0] for v in found.values()], pa.string()),
                "ingested_at": pa.array(
                    [v[1] for v in found.values()], pa.timestamp("us", tz="UTC")
                ),
            }
        ),
    )
    try:
        return con.execute(_PAST.format(bands="keys_bands", articles="keys_articles")).fetchall()
    finally:
        con.unregister("keys_bands")
        con.unregister("keys_articles")


def record(
    con: duckdb.DuckDBPyConnection, links: dict[str, Link], exact: dict[str, str], at: datetime
) -> None:
    """Store the evidence of new links: near-duplicate ``links`` and ``exact`` copies
    ({article: representative}) into ``duplicate_links`` (replacing earlier evidence)."""
    rows = [
        (
            link.article_id,
            link.representative,
            "shingle_containment",
            round(link.verdict.containment, 4),
            round(link.verdict.ratio, 4),
            round(link.verdict.facts, 4),
            round(link.verdict.novel, 4),
            link.stripped,
        )
        for link in links.values()
    ]
    rows += [(aid, rep, "exact", 1.0, 1.0, 1.0, 0.0, 0) for aid, rep in exact.items()]
    if not rows:
        return
    names = ["article_id", "representative", "method", "similarity", "length_ratio"]
    names += ["fact_overlap", "novel_share", "stripped_sentences"]
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    con.register("dl_new", table)
    try:
        con.execute(
            "DELETE FROM duplicate_links WHERE article_id IN (SELECT article_id FROM dl_new)"
        )
        con.execute(
            "INSERT INTO duplicate_links SELECT article_id, representative, method, similarity, "
            "length_ratio, fact_overlap, novel_share, stripped_sentences, ?, ? FROM dl_new",
            [bp.RULE, at],
        )
    finally:
        con.unregister("dl_new")


def relink(con: duckdb.DuckDBPyConnection, at: datetime) -> int:
    """Recompute every near-duplicate and exact link of the warehouse under today's rule, in
    ingest order, one ingest time (a loaded batch) after another, with the loader's steps.

    Learned boilerplate and band keys are rebuilt from scratch. Returns how many articles'
    ``duplicate_of`` changed. Running it twice changes nothing the second time.
    """
    before = dict(con.execute("SELECT article_id, duplicate_of FROM articles").fetchall())
    con.execute("DELETE FROM text_units")
    con.execute("DELETE FROM text_unit_deltas")
    con.execute("DELETE FROM article_bands")
    con.execute("DELETE FROM duplicate_links")
    con.execute("UPDATE articles SET duplicate_of = NULL, cluster_id = article_id")
    counts, representatives = Counts(), Representatives()
    times = [
        r[0] for r in con.execute("SELECT DISTINCT ingested_at FROM articles ORDER BY 1").fetchall()
    ]
    roots_by_hash: dict[str, str] = {}  # the earliest story with that text
    for when in times:
        rows: list[Any] = con.execute(
            "SELECT article_id, coalesce(domain, ''), text, content_hash, ingested_at "
            "FROM articles WHERE ingested_at = ? ORDER BY article_id",
            [when],
        ).fetchall()
        # As the loader does: an exact copy points at the earliest story with its text, else
        # at the batch's first article with it; the rest are new and verified.
        exact: dict[str, str] = {}
        first_in_batch: dict[str, str] = {}
        fresh: list[NewArticle] = []
        for aid, domain, text, chash, ingested in rows:
            if chash in roots_by_hash or chash in first_in_batch:
                exact[aid] = roots_by_hash.get(chash) or first_in_batch[chash]
                continue
            first_in_batch[chash] = aid
            fresh.append(NewArticle(aid, domain, text, chash, ingested, band_keys(text)))
        links, extra = link_new(con, fresh, counts, representatives=representatives)
        for a in fresh:
            if a.article_id not in links:
                roots_by_hash.setdefault(a.content_hash, a.article_id)
        # An exact copy of a new near-duplicate points at that one's representative.
        exact = {
            aid: links[rep].representative if rep in links else rep for aid, rep in exact.items()
        }
        bands = [(a.article_id, k) for a in fresh for k in a.bands + extra.get(a.article_id, [])]
        if bands:
            con.register(
                "rl_bands",
                pa.table(
                    {
                        "band_key": pa.array([b[1] for b in bands], pa.int64()),
                        "article_id": [b[0] for b in bands],
                    }
                ),
            )
            try:
                con.execute("INSERT INTO article_bands SELECT band_key, article_id FROM rl_bands")
            finally:
                con.unregister("rl_bands")
        pointers = {aid: link.representative for aid, link in links.items()} | exact
        if pointers:
            con.register(
                "rl_links",
                pa.table({"article_id": list(pointers), "root": list(pointers.values())}),
            )
            try:
                con.execute(
                    "UPDATE articles SET duplicate_of = r.root, cluster_id = r.root "
                    "FROM rl_links r WHERE articles.article_id = r.article_id"
                )
            finally:
                con.unregister("rl_links")
        record(con, links, exact, at)
    after = dict(con.execute("SELECT article_id, duplicate_of FROM articles").fetchall())
    return sum(1 for aid, dup in after.items() if before.get(aid) != dup)
