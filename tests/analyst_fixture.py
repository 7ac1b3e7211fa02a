"""A small, realistic warehouse for the analysts' tests, built the way production builds one.

Synthetic candidates (feed entries, seed articles, single URLs) go through the real stages
(``process_candidates``: normalization, language detection, hashing, in-batch dedup), are
written to a real spool and merged by the real loader in three runs, then published. Only
``feeds`` rows are inserted directly: the feed flow that owns them is not part of this area.

What it holds (the tests rely on these facts):
- a rate-hike wire story first on example-news.com, copied by regionaltimes.org in the
  same run and by dailypaper.net in a later run: one cluster of size 3 over 3 domains;
- a football story on regionaltimes.org copied by example-news.com: a cluster of size 2;
- English, German, French and Spanish articles, one without a publication date;
- an article whose text changes in the third run (one row in article_versions);
- rejects of several reasons and stages on different days; four feeds in four states.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsflow.tasks.process import process_candidates
from newsflow.tasks.records import Candidate, DateClaim, RejectRow
from newsflow.tasks.spool import write_batch
from newsflow.warehouse.db import connect_writer
from newsflow.warehouse.loader import RunRow, load_spool

FEED_NEWS = "https://example-news.com/rss.xml"
FEED_REGIONAL = "https://www.regionaltimes.org/feed/"
FEED_DE = "https://www.zeitung-beispiel.de/rss"
FEED_DEAD = "https://gone-away.example/atom.xml"

RATES = (
    "The central bank raised its main interest rate by half a percentage point on Friday, "
    "the largest increase in two decades, as policymakers tried to curb inflation that has "
    "stayed far above their target for more than a year.\n"
    "The governor said borrowing costs would stay high until price growth slowed, and warned "
    "households with variable mortgages to expect larger monthly payments.\n"
    "Economists had expected a smaller step; shares of lenders rose after the announcement."
)
FLOOD = (
    "Heavy storms flooded several coastal towns overnight, forcing hundreds of residents to "
    "leave their homes as rivers burst their banks.\n"
    "Emergency services rescued people from rooftops and the regional government opened "
    "shelters in schools and sports halls.\n"
    "Forecasters expect more rain over the weekend, while insurers counted the damage."
)
FOOTBALL = (
    "The home side won the championship after a dramatic penalty shootout on Saturday night, "
    "ending a wait of thirty years for the title.\n"
    "The goalkeeper saved two penalties, and thousands of supporters celebrated in the "
    "streets until the early morning."
)
MARKETS = (
    "Stock markets were calm on Monday as traders waited for company results. Some analysts "
    "mentioned interest rates in passing, but most attention went to technology companies "
    "and the price of oil, which fell slightly."
)
KLIMA = (
    "Die Bundesregierung hat am Mittwoch ein neues Klimaschutzgesetz beschlossen, das strengere "
    "Ziele für Verkehr und Gebäude vorsieht.\n"
    "Umweltverbände begrüßten die Entscheidung, kritisierten aber, dass die Maßnahmen zu spät "
    "kämen und nicht ausreichten."
)
RETRAITES = (
    "Le gouvernement a présenté mercredi sa réforme des retraites, qui prévoit de relever "
    "progressivement l'âge légal de départ.\n"
    "Les syndicats ont appelé à une journée de grève et de manifestations dans toute la France "
    "la semaine prochaine."
)
ELECCIONES = (
    "Los ciudadanos acudieron a las urnas el domingo en unas elecciones regionales marcadas por "
    "la alta participación y el debate sobre la vivienda.\n"
    "Los primeros resultados se conocerán esta noche, según la junta electoral."
)
MUSEUM = (
    "The city museum reopened its renovated east wing with an exhibition of maps, letters and "
    "photographs from the harbour's history.\n"
    "Entry is free for children and students until the end of the month."
)
MUSEUM_CORRECTED = MUSEUM + (
    "\nCorrection: an earlier version of this article gave the wrong opening hours."
)

RUN_1 = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)
RUN_2 = datetime(2024, 3, 2, 18, 0, tzinfo=UTC)
RUN_3 = datetime(2024, 3, 4, 18, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FixtureWarehouse:
    db: Path
    published: Path
    spool: str


def _published(day: int, hour: int = 8) -> list[DateClaim]:
    return [DateClaim("published", datetime(2024, 3, day, hour, 0, tzinfo=UTC), "feed")]


def _feed_item(
    feed: str, url: str, title: str, text: str, day: int, seen: datetime, guid: str
) -> Candidate:
    return Candidate(
        origin="feed",
        source=feed,
        url=url,
        title=title,
        dates=_published(day),
        text=text,
        feed_url=feed,
        guid=guid,
        seen_at=seen,
    )


def _seed_item(url: str, title: str, text: str, day: int | None, seen: datetime) -> Candidate:
    dates = [DateClaim("published", datetime(2024, 3, day, tzinfo=UTC), "seed")] if day else []
    return Candidate(
        origin="seed",
        source=f"seeds/{url.rsplit('/', 1)[-1]}.txt",
        url=url,
        title=title,
        dates=dates,
        text=text,
        seen_at=seen,
        comments=["Editor's note: figures from the central bank."] if "rate" in title else [],
    )


def run_1() -> list[Candidate]:
    seen = RUN_1 - timedelta(hours=2)
    return [
        _feed_item(
            FEED_NEWS,
            "https://www.example-news.com/economy/rates-rise",
            "Central bank raises interest rates to curb inflation",
            RATES,
            1,
            seen,
            "news-1",
        ),
        _feed_item(
            FEED_NEWS,
            "https://www.example-news.com/weather/storms-flood-towns",
            "Storms flood coastal towns",
            FLOOD,
            1,
            seen + timedelta(minutes=5),
            "news-2",
        ),
        _feed_item(
            FEED_REGIONAL,
            "https://www.regionaltimes.org/business/bank-lifts-rates?utm_source=rss",
            "Bank lifts rates again",
            RATES,
            1,
            seen + timedelta(minutes=30),
            "reg-1",
        ),
        _feed_item(
            FEED_REGIONAL,
            "https://www.regionaltimes.org/sport/champions",
            "Home side wins title on penalties",
            FOOTBALL,
            1,
            seen + timedelta(minutes=40),
            "reg-2",
        ),
        _feed_item(
            FEED_DE,
            "https://www.zeitung-beispiel.de/politik/klimaschutzgesetz",
            "Regierung beschließt Klimaschutzgesetz",
            KLIMA,
            1,
            seen + timedelta(minutes=50),
            "de-1",
        ),
        _seed_item(
            "https://www.citymuseumnews.com/reopening",
            "Museum reopens east wing",
            MUSEUM,
            1,
            seen,
        ),
    ]


def run_2() -> list[Candidate]:
    seen = RUN_2 - timedelta(hours=3)
    return [
        _seed_item(
            "https://dailypaper.net/2024/03/02/rates",
            "Interest rates: the biggest rise in twenty years",
            RATES,
            2,
            seen,
        ),
        _feed_item(
            FEED_NEWS,
            "https://www.example-news.com/sport/penalty-drama",
            "Penalty drama decides championship",
            FOOTBALL,
            2,
            seen + timedelta(minutes=10),
            "news-3",
        ),
        _feed_item(
            FEED_NEWS,
            "https://www.example-news.com/markets/calm-monday",
            "Markets calm before results",
            MARKETS,
            2,
            seen + timedelta(minutes=20),
            "news-4",
        ),
        _seed_item(
            "https://www.journal-exemple.fr/politique/retraites",
            "Le gouvernement présente la réforme des retraites",
            RETRAITES,
            2,
            seen,
        ),
        Candidate(
            origin="url",
            source="https://diario-ejemplo.es/elecciones",
            url="https://diario-ejemplo.es/elecciones",
            title="Alta participación en las elecciones regionales",
            text=ELECCIONES,
            seen_at=seen + timedelta(minutes=30),
        ),
        _feed_item(
            FEED_NEWS,
            "https://www.example-news.com/empty",
            "Nothing here",
            "   ",
            2,
            seen,
            "news-5",
        ),
    ]


def run_3() -> list[Candidate]:
    seen = RUN_3 - timedelta(hours=1)
    return [
        _seed_item(
            "https://www.citymuseumnews.com/reopening",
            "Museum reopens east wing",
            MUSEUM_CORRECTED,
            1,
            seen,
        ),
        # Seen again in a feed today: feeds in feed_health count it as recent activity.
        _feed_item(
            FEED_DE,
            "https://www.zeitung-beispiel.de/politik/klimaschutzgesetz",
            "Regierung beschließt Klimaschutzgesetz",
            KLIMA,
            1,
            # Early today (UTC), never in the future and never yesterday, whatever the hour.
            datetime.now(UTC).replace(hour=0, minute=0, second=1, microsecond=0),
            "de-1-again",
        ),
    ]


EXTRA_REJECTS = [
    ("https://www.example-news.com/paywalled", "fetch", "http_404", 1),
    ("https://www.example-news.com/video", "extract", "not_html", 2),
    ("https://www.example-news.com/huge", "fetch", "too_large", 2),
    ("https://www.regionaltimes.org/gone", "fetch", "http_404", 2),
    (FEED_DEAD, "fetch", "timeout", 1),
    (FEED_DEAD, "fetch", "timeout", 2),
]


def build(root: Path, *, publish: bool = True) -> FixtureWarehouse:
    """Three runs through the spool and the loader, then the published copy."""
    db = root / "news.duckdb"
    spool = str(root / "spool")
    for number, (candidates, at) in enumerate(
        ((run_1(), RUN_1), (run_2(), RUN_2), (run_3(), RUN_3)), start=1
    ):
        run_id = f"fixture-run-{number}"
        batch = process_candidates(candidates, run_id, now=at)
        batch.rejects.extend(
            RejectRow(source, stage, reason, f"fixture {reason}", run_id, at)
            for source, stage, reason, run in EXTRA_REJECTS
            if run == number
        )
        write_batch(batch, spool)
        load_spool(
            db,
            spool,
            lock_wait=30,
            run=RunRow(run_id, "ingest-seeds", at - timedelta(minutes=5), at, "completed", 6),
        )
    _feeds(db)
    if publish:
        from newsflow.warehouse.publish import publish as publish_copy

        publish_copy(db, lock_wait=30)
    return FixtureWarehouse(db, root / "news.published.duckdb", spool)


def _feeds(db: Path) -> None:
    now = datetime.now(UTC)
    con = connect_writer(db, 30)
    try:
        con.executemany(
            "INSERT OR REPLACE INTO feeds (url, etag, last_modified, last_status, "
            "consecutive_failures, last_success_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (FEED_NEWS, '"abc"', None, 200, 0, now - timedelta(hours=2)),
                (FEED_REGIONAL, None, None, 503, 4, now - timedelta(days=3)),
                (FEED_DE, None, None, 304, 0, now - timedelta(minutes=30)),
                (FEED_DEAD, None, None, None, 2, None),
            ],
        )
    finally:
        con.close()
