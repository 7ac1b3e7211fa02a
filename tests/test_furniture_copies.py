"""A syndicated copy under another site's furniture that the site has shown before, too few
times to be boilerplate yet: the furniture is not the copy's own novel text, so the copy
joins its story (tasks/boilerplate.novel_share leaves out ``Story.furniture``). Two distinct
stories under the same furniture stay apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from newsflow.settings import Settings
from newsflow.tasks.process import process_candidates
from newsflow.tasks.records import Candidate
from newsflow.tasks.spool import write_batch
from newsflow.warehouse.loader import load_spool

T0 = datetime(2025, 3, 1, tzinfo=UTC)
STORY = (
    "The harbour authority approved a new ferry route between Eastport and the islands on "
    "Tuesday, after two years of hearings. Boats will sail four times a day from June, and "
    "the fare will be capped for residents. The operator said it would hire thirty crew "
    "members from the region before the first sailing."
)
MARKET = (
    "The town council voted on Monday to rebuild the market hall, which burned down last "
    "winter, and to keep its old stone front. Traders will use tents on the square until the "
    "new hall opens, which the mayor expects before the end of next year."
)
STORM = (
    "A storm closed the coastal road north of Eastport for most of Wednesday, and crews "
    "worked through the night to clear fallen trees. The school board cancelled classes in "
    "three villages, and the power company restored service to most homes by the evening."
)
HERALD = (
    "The Herald is owned by its readers and answers to no advertiser: read our standards and "
    "how to request a correction on the about page. Letters to the editor are welcome and "
    "may be edited for length. Photographs are by staff unless noted, and may not be used "
    "without permission from the picture desk."
)
TIDE = (
    "Sign up for the Morning Tide newsletter to get the day's top stories in your inbox "
    "before breakfast, every weekday. Our reporters cover the coast from the lighthouse to "
    "the market square, and every story is checked by two editors before it is published. "
    "Support independent local journalism with a subscription from one dollar a week."
)


def _load(settings: Settings, items: list[tuple[str, str]], hours: int) -> None:
    candidates = [Candidate("url", url, url, title="t", text=text) for url, text in items]
    batch = process_candidates(candidates, "test", now=T0 + timedelta(hours=hours))
    write_batch(batch, settings.spool)
    load_spool(settings.db, settings.spool, lock_wait=30)


def test_a_copy_under_furniture_its_site_showed_before_joins_its_story(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "n.duckdb", spool=str(tmp_path / "s"), _env_file=None)  # type: ignore[call-arg]
    # each site's furniture once before, under another story
    _load(settings, [("https://herald.example/storm", f"{STORM}\n{HERALD}")], 0)
    _load(settings, [("https://tide.example/market", f"{MARKET}\n{TIDE}")], 1)
    _load(settings, [("https://herald.example/ferry", f"{STORY}\n{HERALD}")], 2)
    _load(settings, [("https://tide.example/ferry", f"{TIDE}\n{STORY}")], 3)
    con = duckdb.connect(str(settings.db), read_only=True)
    try:
        links = dict(
            con.execute(
                "SELECT url, (SELECT url FROM articles r WHERE r.article_id = a.duplicate_of) "
                "FROM articles a"
            ).fetchall()
        )
    finally:
        con.close()
    assert links["https://tide.example/ferry"] == "https://herald.example/ferry"
    # distinct stories under one site's furniture stay apart
    assert links["https://herald.example/ferry"] is None
    assert links["https://tide.example/market"] is None
