"""Near-duplicates decided on the story: shared furniture never links two stories, copies
under other furniture still do, clusters never chain, links keep their evidence, and
``backfill --mode rededup`` gives the links a fresh ingest gives."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest import mock

import duckdb
import pytest

from newsflow.settings import Settings
from newsflow.tasks.normalize import article_id, canonical_url
from newsflow.tasks.process import process_candidates
from newsflow.tasks.records import Candidate
from newsflow.tasks.spool import write_batch
from newsflow.warehouse import stories
from newsflow.warehouse.loader import load_spool

T0 = datetime(2025, 3, 1, tzinfo=UTC)
DISCLAIMER = (
    "This coverage is supported by a grant from the Global Climate Reporting Fund and the "
    "Open Waters Foundation. The funders had no role in choosing the stories, and the news "
    "agency is solely responsible for all of its content. Read our policy on donations here."
)
BRIEFS = {
    "dhaka": "Floodwaters rose across Dhaka on Monday after three days of monsoon rain, "
    "forcing thousands of families from low-lying neighbourhoods into schools and mosques. "
    "City officials said pumping stations along the Buriganga river had failed overnight, and "
    "the army was sent to rescue residents stranded on rooftops in the old town districts. "
    "Aid groups warned that drinking water was running short in the worst hit camps.",
    "spain": "Spain recorded its hottest June night on Tuesday as a heat wave pushed "
    "temperatures past 44 degrees in Seville and Cordoba. Hospitals in Andalusia reported a "
    "rise in heatstroke cases among farm workers, and regional governments ordered outdoor "
    "labour to stop during the afternoon hours until the weekend at the earliest. "
    "Forecasters expect the hot air from North Africa to linger over the south.",
    "newyork": "Smoke from Canadian wildfires drifted over New York on Wednesday, turning the "
    "skyline orange and sending air quality readings to their worst level in decades. Schools "
    "cancelled outdoor recess, airports slowed arrivals, and the mayor urged residents with "
    "asthma to stay inside and wear masks if they had to go out at all. "
    "Forecasters said a change in the wind could clear the haze by Friday.",
    "panama": "Drought has cut the number of ships allowed through the Panama Canal each day, "
    "leaving more than a hundred vessels waiting at anchor on both coasts. The canal authority "
    "said the lake that feeds its locks was at a record low for the season and warned shipping "
    "lines that draught limits would tighten again next month without rain. "
    "Some carriers have started to send cargo by rail across the isthmus instead.",
    "coral": "Scientists reported mass coral bleaching along the southern Great Barrier Reef "
    "after weeks of unusually warm water, the fifth such event in eight years. Divers surveyed "
    "hundreds of reefs from the air and the water and found that some shallow corals had "
    "already died, while deeper colonies were pale but could still recover. "
    "Tour operators fear that visitors will stay away if the damage spreads north.",
}


def rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def load(tmp: Path, candidates: list[Candidate], hours: int) -> None:
    batch = process_candidates(candidates, "test", now=T0 + timedelta(hours=hours))
    write_batch(batch, str(tmp / "spool"))
    load_spool(tmp / "news.duckdb", str(tmp / "spool"), lock_wait=10)


def item(url: str, text: str, title: str = "t") -> Candidate:
    return Candidate("url", url, url, title=title, text=text)


def aid(url: str) -> str:
    return article_id(canonical_url(url))


@pytest.mark.usefixtures("prefect_harness")
def test_five_briefs_sharing_a_funding_disclaimer_are_five_stories(
    settings: Settings, tmp_path: Path
) -> None:
    from newsflow.flows.seeds import ingest_seeds

    folder = tmp_path / "briefs"
    folder.mkdir()
    for name, body in BRIEFS.items():
        assert 60 <= len(body.split()) <= 80 and 35 <= len(DISCLAIMER.split()) <= 45  # ~70 and ~40
        (folder / f"{name}.txt").write_text(
            f"{name.title()} brief\n20250301\nhttps://wire.example.com/{name}\n{body}\n{DISCLAIMER}\n"
        )
    summary = ingest_seeds(paths=[str(folder)], settings=settings)
    assert summary["load"]["loaded"] == 5
    assert summary["load"]["duplicates"] == 0
    assert rows(settings.db, "SELECT count(*) FROM articles_unique") == [(5,)]
    # The disclaimer was learned as the wire's boilerplate (5 stories of one domain).
    learned = rows(settings.db, "SELECT max(stories) FROM text_units WHERE domain = 'example.com'")
    assert learned == [(5,)]


def test_a_copy_under_other_furniture_links_once_the_furniture_is_learned(tmp_path: Path) -> None:
    """Site b's footer is half of each of its texts; the copy of a's story on b edits one
    sentence and has another headline. Stories of site b sharing only the footer stay apart."""
    footer = (
        "Subscribe to the Harbour Gazette newsletter for the day's top stories every morning. "
        "Our journalism depends on readers like you: become a member today and support local "
        "reporting. Comments are moderated and must follow our community guidelines at all times."
    )
    others = list(BRIEFS.values())
    # Site b's earlier stories teach the footer.
    load(tmp_path, [item(f"https://b.example/s{i}", f"{others[i]}\n{footer}") for i in range(3)], 0)
    story = BRIEFS["coral"]
    load(tmp_path, [item("https://a.example/flood", f"Share this story.\n{story}")], 1)
    edited = story.replace("unusually warm water", "unusually hot water")
    load(tmp_path, [item("https://b.example/wire/9", f"{edited}\n{footer}", "Floods hit port")], 2)
    got = dict(rows(tmp_path / "news.duckdb", "SELECT article_id, duplicate_of FROM articles"))
    assert got[aid("https://b.example/wire/9")] == aid("https://a.example/flood")
    assert [v for v in got.values() if v] == [aid("https://a.example/flood")]
    evidence = rows(
        tmp_path / "news.duckdb",
        "SELECT representative, method, similarity, stripped_sentences, rule "
        "FROM duplicate_evidence",
    )
    assert len(evidence) == 1
    rep, method, similarity, stripped, rule = evidence[0]
    assert (rep, method, rule) == (
        aid("https://a.example/flood"),
        "shingle_containment",
        "story-v2",
    )
    assert 0.8 <= similarity < 1.0 and stripped >= 3


def test_a_batch_reads_its_past_representatives_in_one_query(tmp_path: Path) -> None:
    """Copies of five past stories in one batch: the representatives' texts are read in one
    query for the batch, not one per article (on a lake each query scans the article ids)."""
    load(tmp_path, [item(f"https://a.example/{k}", text) for k, text in BRIEFS.items()], 0)
    copies = [
        item(f"https://c{n}.example/{k}", f"{text} Reporting by staff writer {n}.")
        for k, text in BRIEFS.items()
        for n in range(3)
    ]
    with mock.patch.object(stories, "rows_by_ids", wraps=stories.rows_by_ids) as by_ids:
        load(tmp_path, copies, 1)
    got = dict(rows(tmp_path / "news.duckdb", "SELECT article_id, duplicate_of FROM articles"))
    for k in BRIEFS:
        for n in range(3):
            assert got[aid(f"https://c{n}.example/{k}")] == aid(f"https://a.example/{k}")
    texts = [c for c in by_ids.call_args_list if " text FROM articles" in c.args[1]]
    assert len(texts) == 1
    assert sorted(texts[0].args[2]) == sorted(aid(f"https://a.example/{k}") for k in BRIEFS)


def test_no_chaining_through_a_member(tmp_path: Path) -> None:
    """B copies most of A, C copies most of B's other half: C is verified against A (the
    representative), not B, so it starts its own cluster."""
    sentences = [s + "." for s in " ".join(BRIEFS.values()).split(". ") if s]
    a = " ".join(sentences[0:6])
    b = " ".join(sentences[0:6] + sentences[6:9])
    c = " ".join(sentences[6:9] + sentences[9:11])
    load(tmp_path, [item("https://a.example/1", a)], 0)
    load(tmp_path, [item("https://b.example/1", b)], 1)
    load(tmp_path, [item("https://c.example/1", c)], 2)
    got = dict(rows(tmp_path / "news.duckdb", "SELECT article_id, cluster_id FROM articles"))
    assert got[aid("https://b.example/1")] == aid("https://a.example/1")
    assert got[aid("https://c.example/1")] == aid("https://c.example/1")


def templated(n: int, seed: int = 3) -> list[Candidate]:
    """Local briefs from one template: the same words, other facts (pairwise alike 0.1-0.4)."""
    rng = random.Random(seed)
    towns = [
        f"{a}{b}"
        for a in ("North", "West", "Oak", "Mill", "River", "Stone")
        for b in ("field", "ford", "bury", "ton", "wick", "dale", "brook")
    ]
    teams = ["Rovers", "United", "Athletic", "Wanderers", "Rangers", "Albion", "City", "Town"]
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    out = []
    for i in range(n):
        town, rival = rng.sample(towns, 2)
        t1, t2 = rng.sample(teams, 2)
        text = (
            f"{town} {t1} beat {rival} {t2} {rng.randint(1, 6)}-{rng.randint(0, 3)} on "
            f"{rng.choice(days)} in front of {rng.randint(200, 3000)} fans at {town} Park. "
            f"{rng.choice(['Sam', 'Alex', 'Jo', 'Chris', 'Lee'])} "
            f"{rng.choice(['Hart', 'Moss', 'Reed', 'Shaw'])} "
            f"scored twice before the {rng.randint(20, 80)}th minute, and {t2} had "
            f"{rng.choice(['one', 'two', 'three'])} players booked. {t1} move to "
            f"{rng.randint(10, 60)} points, {rng.randint(1, 9)} clear of {rng.choice(towns)}"
            f" in the table, with {rng.randint(2, 12)} games left before the "
            f"{rng.choice(days)} cup draw."
        )
        out.append(item(f"https://local.example/results/{i}", text, f"{town} win"))
    return out


def test_templated_local_items_do_not_collapse(tmp_path: Path) -> None:
    items = templated(300)
    for b in range(0, len(items), 100):
        load(tmp_path, items[b : b + 100], b)
    unique = rows(tmp_path / "news.duckdb", "SELECT count(*) FROM articles_unique")[0][0]
    assert unique == 300


@pytest.mark.slow
def test_1200_templated_local_items_do_not_collapse(tmp_path: Path) -> None:
    items = templated(1200, seed=5)
    for b in range(0, len(items), 250):
        load(tmp_path, items[b : b + 250], b)
    assert rows(tmp_path / "news.duckdb", "SELECT count(*) FROM articles_unique") == [(1200,)]


def _links(db: Path) -> dict[str, str | None]:
    return dict(
        rows(
            db,
            "SELECT url, (SELECT url FROM articles r WHERE r.article_id = "
            "a.duplicate_of) FROM articles a",
        )
    )


@pytest.mark.usefixtures("prefect_harness")
def test_rededup_of_a_legacy_warehouse_gives_the_links_of_a_fresh_ingest(
    tmp_path: Path, settings: Settings
) -> None:
    """A warehouse as the code before migration 006 left it (links decided on whole texts:
    the briefs sharing a disclaimer chained into one), migrated, then re-deduplicated by
    ``backfill --mode rededup``: the same links as a fresh ingest, and a second run changes
    nothing."""
    from newsflow.flows.backfill import BackfillRequest, run_backfill

    footer = DISCLAIMER
    batches = [
        [item(f"https://wire.example/{k}", f"{v}\n{footer}") for k, v in BRIEFS.items()],
        [item("https://copy.example/dhaka", BRIEFS["dhaka"].replace("Monday", "Sunday"))],
        templated(40, seed=9),
        [item("https://wire.example/dhaka2", f"{BRIEFS['dhaka']}\n{footer}")],  # exact copy
    ]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for n, batch in enumerate(batches):
        load(fresh, batch, n)
    for n, batch in enumerate(batches):
        b = process_candidates(
            batch, "t", now=datetime(2025, 3, 1, tzinfo=UTC) + timedelta(hours=n)
        )
        write_batch(b, settings.spool)
        load_spool(Path(settings.db), settings.spool, lock_wait=10)
    # Back to what the earlier code stored: no 006 tables, links chained on furniture.
    con = duckdb.connect(str(settings.db))
    try:
        con.execute("DROP VIEW IF EXISTS duplicate_evidence")
        con.execute("DROP TABLE text_units")
        con.execute("DROP TABLE duplicate_links")
        con.execute("DELETE FROM schema_migrations WHERE version = 6")
        first = con.execute(
            "SELECT article_id FROM articles WHERE url = 'https://wire.example/dhaka'"
        ).fetchone()[0]
        con.execute(
            "UPDATE articles SET duplicate_of = ?, cluster_id = ? WHERE url LIKE "
            "'https://wire.example/%' AND article_id <> ?",
            [first, first, first],
        )
    finally:
        con.close()
    assert _links(Path(settings.db)) != _links(fresh / "news.duckdb")
    request = BackfillRequest(since=date(2025, 3, 1), until=date(2025, 3, 2))
    run_backfill(request, settings)
    assert _links(Path(settings.db)) == _links(fresh / "news.duckdb")
    evidence = rows(Path(settings.db), "SELECT method, rule FROM duplicate_evidence ORDER BY 1")
    assert evidence == rows(
        fresh / "news.duckdb", "SELECT method, rule FROM duplicate_evidence ORDER BY 1"
    )
    again = run_backfill(request, settings)
    assert again["load"]["revised"] == 0
    assert _links(Path(settings.db)) == _links(fresh / "news.duckdb")
