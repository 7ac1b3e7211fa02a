"""Near-duplicate evaluation: labelled pairs from real extractions, clustered by the warehouse.

    python eval/neardup.py [--limit N] [--seed S]

1. Bases: newsflow's extraction of the shared eval pages (eval/corpora.py) with at
   least ``MIN_WORDS`` words; pages whose texts already nearly duplicate another page's are
   dropped (the sets hold a few), so the labels are clean.
2. Positives: 1-3 edited copies of each base, each with a random mix of realistic edits:
   headline line changed or added, one paragraph dropped, boilerplate lines added (wire
   credits, newsletter prompts), sentences reworded (words replaced, dropped or swapped in
   whole sentences) up to 20% of the words.
3. Hard negatives: every pair of different stories from the same site (same domain),
   including their edited copies.
4. Everything is ingested through the real path (process_candidates -> spool -> loader, in
   shuffled batches, so later batches find earlier ones only through article_bands), and
   the warehouse's cluster_id is compared with the truth: pairwise precision/recall/F1 over
   the labelled pairs, and B-cubed cluster precision/recall/F1 over all articles.
"""

from __future__ import annotations

import argparse
import pickle
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval.corpora import SETS, pages  # noqa: E402

MIN_WORDS = 80
MAX_REWORD = 0.20
BATCH = 200
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\w+")
BOILERPLATE = [
    "Sign up for our daily newsletter to get the latest headlines delivered to your inbox.",
    "Copyright 2024 The Associated Press. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed.",
    "Reporting by staff; editing by the news desk.",
    "Follow us on Facebook, Twitter and Instagram for more stories like this.",
    "This article originally appeared on a partner site and is republished with permission.",
    "Read more:",
    "Share this article",
    "Advertisement",
    "We use cookies to improve your experience on our site.",
]


@dataclass(slots=True)
class Doc:
    doc_id: str
    story: str  # the base it derives from (the true cluster)
    domain: str
    text: str
    title: str


def _extract(job: tuple[str, list[str]]) -> list[tuple[str, str, str, str]]:
    from newsflow.tasks.errors import BadInput
    from newsflow.tasks.extract import extract

    set_name, ids = job
    out = []
    for page in pages(set_name, set(ids)):
        try:
            got = extract(page.html, page.url)
        except BadInput:
            continue
        out.append((f"{set_name}/{page.page_id}", page.url, got.text, got.title or ""))
    return out


def load_bases(workers: int, limit: int | None) -> list[Doc]:
    from eval.evaluate import page_ids

    jobs = []
    for set_name in SETS:
        ids = page_ids(set_name)[:limit] if limit else page_ids(set_name)
        jobs += [(set_name, ids[i : i + 20]) for i in range(0, len(ids), 20)]
    found = []
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for chunk in pool.map(_extract, jobs):
            found.extend(chunk)
    docs = []
    for doc_id, url, text, title in found:
        if len(_WORD.findall(text)) < MIN_WORDS:
            continue
        host = (urlsplit(url).hostname or "unknown").removeprefix("www.")
        docs.append(Doc(doc_id, doc_id, host, text, title))
    return docs


def drop_corpus_duplicates(docs: list[Doc]) -> tuple[list[Doc], int]:
    """Keep one page of each group the corpus itself holds twice (pairs sharing a band key,
    checked exactly; a pair both LSH and the check miss stays, and can only count against
    us as a missed duplicate, never as a false one)."""
    from newsflow.tasks.near_duplicates import band_keys, is_near_duplicate, shingles

    kept: list[Doc] = []
    kept_sets: list[set[int]] = []
    by_key: dict[int, list[int]] = defaultdict(list)
    dropped = 0
    for doc in docs:
        mine = shingles(doc.text)
        keys = band_keys(doc.text)
        others = {i for k in keys for i in by_key.get(k, ())}
        if any(is_near_duplicate(mine, kept_sets[i]) for i in others):
            dropped += 1
            continue
        for k in keys:
            by_key[k].append(len(kept))
        kept.append(doc)
        kept_sets.append(mine)
    return kept, dropped


def reword(text: str, share: float, vocabulary: list[str], rng: random.Random) -> str:
    """Rework whole sentences (30-60% of their words each) until ``share`` of words changed."""
    paragraphs = [p.split(" ") for p in text.split("\n")]
    total = sum(len(p) for p in paragraphs)
    budget = int(total * share)
    sentences = []  # (paragraph index, start, end) word spans
    for pi, words in enumerate(paragraphs):
        start = 0
        for i, word in enumerate(words):
            if word.endswith((".", "!", "?")) or i == len(words) - 1:
                sentences.append((pi, start, i + 1))
                start = i + 1
    rng.shuffle(sentences)
    changed = 0
    for pi, start, end in sentences:
        if changed >= budget:
            break
        words = paragraphs[pi]
        rate = rng.uniform(0.3, 0.6)
        for i in range(start, min(end, len(words))):
            if changed >= budget or rng.random() > rate:
                continue
            op = rng.random()
            if op < 0.6:
                words[i] = rng.choice(vocabulary)
            elif op < 0.8:
                words[i] = ""
            elif i + 1 < len(words):
                words[i], words[i + 1] = words[i + 1], words[i]
            changed += 1
    return "\n".join(" ".join(w for w in p if w) for p in paragraphs)


def edit(doc: Doc, n: int, vocabulary: list[str], rng: random.Random) -> tuple[Doc, str]:
    """An edited copy of ``doc`` and a description of its edits."""
    text, title = doc.text, doc.title
    kinds = [k for k in ("headline", "drop", "boilerplate", "reword") if rng.random() < 0.6]
    kinds = kinds or [rng.choice(("headline", "drop", "boilerplate", "reword"))]
    lines = text.split("\n")
    if "headline" in kinds:
        title = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(6, 12))).capitalize()
        if lines and len(lines[0].split()) <= 15:
            lines[0] = title
        else:
            lines.insert(0, title)
    if "drop" in kinds and len(lines) > 2:
        total = sum(len(line.split()) for line in lines)
        small = [i for i, line in enumerate(lines) if len(line.split()) <= 0.25 * total]
        if small:
            del lines[rng.choice(small)]
    if "boilerplate" in kinds:
        for _ in range(rng.randint(1, 3)):
            line = rng.choice(BOILERPLATE)
            lines.insert(0 if rng.random() < 0.3 else len(lines), line)
    text = "\n".join(lines)
    share = 0.0
    if "reword" in kinds:
        share = rng.uniform(0.02, MAX_REWORD)
        text = reword(text, share, vocabulary, rng)
    label = "+".join(kinds) + (f"({share:.0%})" if share else "")
    return Doc(f"{doc.doc_id}~{n}", doc.story, doc.domain, text, title), label


def make_corpus(bases: list[Doc], seed: int) -> tuple[list[Doc], dict[str, str]]:
    rng = random.Random(seed)
    vocabulary = sorted({w for d in bases for w in d.text.split()[:200] if w.isalpha()})
    docs: list[Doc] = []
    labels: dict[str, str] = {}
    for base in bases:
        docs.append(base)
        for n in range(rng.randint(1, 3)):
            copy, label = edit(base, n, vocabulary, rng)
            docs.append(copy)
            labels[copy.doc_id] = label
    rng.shuffle(docs)
    return docs, labels


def ingest(docs: list[Doc], db: Path, spool: str) -> dict[str, str]:
    """Load the docs through the real path; returns doc_id -> cluster_id."""
    from newsflow.tasks.normalize import article_id, canonical_url
    from newsflow.tasks.process import process_candidates
    from newsflow.tasks.records import Candidate
    from newsflow.tasks.spool import write_batch
    from newsflow.warehouse.db import connect_reader
    from newsflow.warehouse.loader import load_spool

    start = datetime(2025, 1, 1, tzinfo=UTC)
    ids = {}
    for b in range(0, len(docs), BATCH):
        chunk = docs[b : b + BATCH]
        candidates = []
        for doc in chunk:
            url = f"https://{doc.domain}/nd/{doc.doc_id.replace('/', '_')}"
            ids[article_id(canonical_url(url))] = doc.doc_id
            candidates.append(Candidate("url", url, url, title=doc.title, text=doc.text))
        batch = process_candidates(candidates, "neardup", now=start + timedelta(hours=b))
        write_batch(batch, spool)
        load_spool(db, spool, lock_wait=10)
    con = connect_reader(db)
    try:
        rows = con.execute("SELECT article_id, cluster_id FROM articles").fetchall()
    finally:
        con.close()
    return {ids[aid]: cluster for aid, cluster in rows}


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score(docs: list[Doc], clusters: dict[str, str]) -> dict[str, float]:
    by_story: dict[str, list[Doc]] = defaultdict(list)
    by_domain: dict[str, list[Doc]] = defaultdict(list)
    for doc in docs:
        by_story[doc.story].append(doc)
        by_domain[doc.domain].append(doc)
    tp = fn = fp = tn = 0
    for members in by_story.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if clusters[a.doc_id] == clusters[b.doc_id]:
                    tp += 1
                else:
                    fn += 1
    for members in by_domain.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if a.story == b.story:
                    continue
                if clusters[a.doc_id] == clusters[b.doc_id]:
                    fp += 1
                else:
                    tn += 1
    p, r, f = prf(tp, fp, fn)
    # B-cubed over all articles: per article, the share of its predicted cluster that is
    # truly its story (precision) and of its story that is in its predicted cluster (recall).
    predicted: dict[str, list[Doc]] = defaultdict(list)
    for doc in docs:
        predicted[clusters[doc.doc_id]].append(doc)
    bp = br = 0.0
    for doc in docs:
        mine = predicted[clusters[doc.doc_id]]
        same = sum(1 for o in mine if o.story == doc.story)
        bp += same / len(mine)
        br += same / len(by_story[doc.story])
    bp, br = bp / len(docs), br / len(docs)
    return {
        "positive_pairs": tp + fn,
        "hard_negative_pairs": fp + tn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "pair_precision": p,
        "pair_recall": r,
        "pair_f1": f,
        "cluster_precision": bp,
        "cluster_recall": br,
        "cluster_f1": 2 * bp * br / (bp + br) if bp + br else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only N pages of each set")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, help="keep the extracted bases in this file")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.cache and args.cache.exists():
        bases = pickle.loads(args.cache.read_bytes())
    else:
        bases = load_bases(args.workers, args.limit)
        if args.cache:
            args.cache.write_bytes(pickle.dumps(bases))
    bases, dropped = drop_corpus_duplicates(bases)
    docs, labels = make_corpus(bases, args.seed)
    print(
        f"{len(bases)} base stories ({dropped} corpus pages dropped as duplicates of another), "
        f"{len(labels)} edited copies, {len(docs)} articles in {len({d.domain for d in docs})} "
        "domains"
    )
    with tempfile.TemporaryDirectory() as tmp:
        clusters = ingest(docs, Path(tmp) / "nd.duckdb", f"{tmp}/spool")
    result = score(docs, clusters)
    for key, value in result.items():
        print(f"{key:<22}{value:.4f}" if isinstance(value, float) else f"{key:<22}{value}")
    missed = defaultdict(int)
    by_story = defaultdict(set)
    for doc in docs:
        by_story[doc.story].add(clusters[doc.doc_id])
    for doc_id, label in labels.items():
        story = doc_id.split("~")[0]
        if clusters[doc_id] != clusters[story]:
            missed[label.split("(")[0]] += 1
    if missed:
        print("edited copies not clustered with their story, by edits:", dict(missed))
    ok = result["pair_precision"] >= 0.999 and result["pair_recall"] >= 0.99
    print(f"targets precision >= 0.999, recall >= 0.99: {'met' if ok else 'NOT met'}")
    print(f"({time.monotonic() - started:.0f}s wall)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
