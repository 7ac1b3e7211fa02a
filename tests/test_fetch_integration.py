"""End to end against real local servers: the ``newsflow`` command in a subprocess (so its
peak memory can be measured), real Prefect flow runs, a real DuckDB file.

Every hostile or broken input ends as a loaded row or a reject with its reason, the run
exits 0, and the process's peak RSS stays bounded (a 1 GB gzip bomb, a 50 MB body and
entity bombs included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.fetch_server import (
    FaultServer,
    article_html,
    conditional,
    gzip_bomb,
    huge,
    page,
    redirect,
    sample_paragraphs,
    status,
    trickle,
)
from tests.test_feeds_pages import ATOM, LAUGHS, quadratic_feed

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

ROOT = Path(__file__).resolve().parent.parent
# Peak memory of a hostile run may exceed that of a benign run of the same command, in the same
# environment, by at most this much (the bodies are capped at NEWSFLOW_MAX_BYTES, 10 MB; a
# 50 MB body or a 1 GB gzip bomb read whole would blow far past it). Measured ~260 MB alone,
# most of it imports (Prefect, trafilatura, DuckDB); the baseline absorbs what the machine adds.
HEADROOM_MB = 96
RUSSIAN = [
    "Городской совет во вторник обсудил бюджет на следующий год и ремонт дорог в центре.",
    "Депутаты долго спорили о школах, больницах и новом причале в северной гавани города.",
    "Мэр пообещал опубликовать окончательный план расходов до конца месяца и выслушать жителей.",
    "Жители района собрались у здания администрации, чтобы выразить своё мнение о проекте.",
]
FRENCH = [
    "Le conseil municipal a débattu mardi du budget de l'année prochaine et des routes.",
    "Les élus ont longuement discuté des écoles, des hôpitaux et du nouveau quai du port.",
    "Le maire a promis de publier le plan des dépenses avant la fin du mois, café à la main.",
    "Les habitants du quartier se sont réunis devant la mairie pour donner leur avis.",
]

MEASURED = """
import json, resource, sys
sys.argv = ["newsflow", *sys.argv[1:]]
code = 0
try:
    from newsflow.cli import main
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("MEASURED " + json.dumps({"code": code, "maxrss_kb": rss}), file=sys.stderr)
sys.exit(code)
"""


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURED, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=400,
    )
    line = [x for x in proc.stderr.splitlines() if x.startswith("MEASURED ")]
    assert line, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(line[-1].removeprefix("MEASURED "))
    result.update(stdout=proc.stdout, stderr=proc.stderr, exit=proc.returncode)
    print(
        f"newsflow {args[0]}: exit {proc.returncode}, peak RSS {result['maxrss_kb'] / 1024:.0f} MB"
    )
    return result


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FaultServer, FaultServer]]:
    srv = FaultServer().start()
    inside = FaultServer(host="127.0.0.2").start()
    story = article_html("Harbour budget agreed", sample_paragraphs("Bergen"))
    r = srv.routes
    r["/robots.txt"] = page("User-agent: *\nDisallow: /private/\n", "text/plain")
    r["/ok"] = page(story)
    r["/story"] = page(article_html("Council story", sample_paragraphs("Tromsø")))
    r["/err500"] = status(500)
    r["/flaky"] = lambda h: (
        status(503)(h)
        if srv.nth("/flaky") == 1
        else page(article_html("Flaky", sample_paragraphs("Flåm")))(h)
    )
    r["/busy"] = lambda h: (
        status(429, **{"Retry-After": "1"})(h)
        if srv.nth("/busy") == 1
        else page(article_html("Busy", sample_paragraphs("Bodø")))(h)
    )
    r["/trickle"] = trickle(0.5, total=40)
    r["/big-declared"] = huge(50_000_000, declare=True)
    r["/big-stream"] = huge(50_000_000, declare=False)
    r["/bomb"] = page(gzip_bomb(1 << 30), "text/html", headers={"Content-Encoding": "gzip"})
    r["/loop/a"] = redirect("/loop/b")
    r["/loop/b"] = redirect("/loop/a")
    r["/to-inside"] = redirect(inside.url("/admin"))
    inside.routes["/admin"] = page(story)
    r["/private/secret"] = page(story)
    r["/latin1"] = page(
        article_html("Budget municipal", FRENCH).encode("latin-1"),
        "text/html; charset=ISO-8859-1",
    )
    r["/cp1251"] = page(
        article_html("Бюджет города", RUSSIAN, charset="windows-1251").encode("cp1251"),
        "text/html",
    )
    r["/doc.pdf"] = page(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf")
    # feeds
    for i in (1, 2, 3):
        r[f"/world/e{i}"] = page(article_html(f"Entry {i}", sample_paragraphs(f"Town {i}")))
    atom = ATOM.replace(b"https://news.example.com/world/", b"/world/")
    atom = atom.replace(b"one.html", b"e1").replace(b"two.html", b"e2")
    atom = atom.replace(b"/other/", b"/world/").replace(b"/abs/three", b"/world/e3")
    r["/feeds/atom.xml"] = page(atom, "application/atom+xml")
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Tracked</title>'
        f"<item><title>Story</title><link>{srv.url('/story')}?utm_source=rss&amp;utm_medium=feed"
        '</link><guid isPermaLink="false">t-1</guid>'
        "<pubDate>Tue, 02 Apr 2024 10:00:00 GMT</pubDate></item>"
        f"<item><title>Story again</title><link>{srv.url('/story')}?fbclid=abc123</link>"
        '<guid isPermaLink="false">t-2</guid></item></channel></rss>'
    ).encode()
    r["/feeds/tracked.xml"] = conditional(rss, '"tracked-v1"', "application/rss+xml")
    r["/feeds/laughs.xml"] = page(LAUGHS, "application/rss+xml")
    r["/laughs/1"] = page(article_html("Laughs", sample_paragraphs("Lillehammer")))
    r["/feeds/quad.xml"] = page(quadratic_feed(), "application/rss+xml")
    r["/quad/1"] = page(article_html("Quad", sample_paragraphs("Kirkenes")))
    r["/feeds/broken.xml"] = status(500)
    r["/feeds/gone.xml"] = status(410)
    yield srv, inside
    srv.stop()
    inside.stop()


def command_env(folder: Path, **overrides: str) -> dict[str, str]:
    """The environment of a ``newsflow`` command against the test Prefect server and loopback
    sites, its warehouse and spool in ``folder``; ``overrides``: NEWSFLOW_* values to change."""
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    assert api, "the Prefect test harness sets the API URL"
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    return (
        base
        | {
            "PREFECT_API_URL": api,
            "PYTHONPATH": str(ROOT),
            "NEWSFLOW_DB": str(folder / "news.duckdb"),
            "NEWSFLOW_SPOOL": str(folder / "spool"),
            "NEWSFLOW_ALLOW_PRIVATE": "127.0.0.1",
            "NEWSFLOW_HTTP_TIMEOUT": "2",
            "NEWSFLOW_PER_HOST_DELAY": "0",
            "NEWSFLOW_PER_HOST_CONCURRENCY": "4",
            "NEWSFLOW_HTTP_RETRIES": "1",
            "NEWSFLOW_RETRY_MAX_WAIT": "5",
            "NEWSFLOW_WORKERS": "1",
        }
        | overrides
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return command_env(tmp_path)


def benign_rss_mb(srv: FaultServer, env: dict[str, str], tmp_path: Path) -> float:
    """Peak RSS of the same command on one ordinary page, into its own warehouse."""
    folder = tmp_path / "benign"
    folder.mkdir()
    benign_env = env | {
        "NEWSFLOW_DB": str(folder / "news.duckdb"),
        "NEWSFLOW_SPOOL": str(folder / "spool"),
    }
    result = run_cli(["ingest-urls", srv.url("/ok")], benign_env, folder)
    assert result["exit"] == 0, result["stderr"][-3000:]
    return float(result["maxrss_kb"]) / 1024


def rows(env: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(env["NEWSFLOW_DB"], read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_urls_every_fault_ends_as_row_or_reject(
    servers: tuple[FaultServer, FaultServer], env: dict[str, str], tmp_path: Path
) -> None:
    srv, inside = servers
    expected_rejects = {
        "/err500": "http_500",
        "/trickle": "timeout",
        "/big-declared": "too_large",
        "/big-stream": "too_large",
        "/bomb": "too_large",
        "/loop/a": "redirect_loop",
        "/to-inside": "blocked_private",
        "/private/secret": "robots",
        "/doc.pdf": "not_html",
        "/missing": "http_404",
    }
    loaded = ["/ok", "/flaky", "/busy", "/latin1", "/cp1251"]
    tracked = [
        srv.url("/story") + "?utm_source=twitter",
        srv.url("/story") + "?utm_campaign=x&fbclid=y",
    ]
    urls = [srv.url(p) for p in [*expected_rejects, *loaded]] + tracked
    result = run_cli(["ingest-urls", *urls], env, tmp_path)
    assert result["exit"] == 0, result["stderr"][-3000:]
    baseline = benign_rss_mb(srv, env, tmp_path)
    assert result["maxrss_kb"] / 1024 < baseline + HEADROOM_MB, (result["maxrss_kb"], baseline)

    reasons = dict(rows(env, "SELECT source, reason FROM rejects"))
    assert reasons == {srv.url(p): reason for p, reason in expected_rejects.items()}
    articles = dict(rows(env, "SELECT url, text FROM articles"))
    assert set(articles) == {srv.url(p) for p in loaded} | {tracked[0]}
    assert "café à la main" in articles[srv.url("/latin1")]
    assert "Городской совет" in articles[srv.url("/cp1251")]
    # the two tracking variants are one article seen twice
    (story,) = rows(
        env, f"SELECT article_id, canonical_url FROM articles WHERE url = '{tracked[0]}'"
    )
    assert story[1] == srv.url("/story")
    seen = rows(env, f"SELECT url_seen FROM article_sightings WHERE article_id = '{story[0]}'")
    assert sorted(s[0] for s in seen) == sorted(tracked)
    assert sum(1 for h in srv.hits if h.path.startswith("/story")) == 1  # fetched once
    assert srv.count("/private/secret") == 0
    assert inside.hits == []
    assert "rejected" in result["stdout"]


def test_feeds_health_conditional_get_and_quarantine(
    servers: tuple[FaultServer, FaultServer], env: dict[str, str], tmp_path: Path
) -> None:
    srv, _ = servers
    names = ["atom", "tracked", "laughs", "quad", "broken", "gone"]
    feeds_file = tmp_path / "feeds.toml"
    feeds_file.write_text(
        "".join(
            f'[[feeds]]\nname = "{n}"\nurl = "{srv.url(f"/feeds/{n}.xml")}"\ntags = ["t"]\n\n'
            for n in names
        )
    )
    first = run_cli(["ingest-feeds", "--feeds-file", str(feeds_file)], env, tmp_path)
    assert first["exit"] == 0, first["stderr"][-3000:]
    baseline = benign_rss_mb(srv, env, tmp_path)
    assert first["maxrss_kb"] / 1024 < baseline + HEADROOM_MB, (first["maxrss_kb"], baseline)

    urls = {u for (u,) in rows(env, "SELECT url FROM articles")}
    assert {srv.url(f"/world/e{i}") for i in (1, 2, 3)} <= urls  # relative Atom links
    assert srv.url("/laughs/1") in urls and srv.url("/quad/1") in urls  # bombs defused
    tracked = rows(
        env,
        "SELECT count(DISTINCT article_id), count(*), list(guid ORDER BY guid) "
        "FROM article_sightings WHERE feed_url LIKE '%tracked.xml'",
    )
    assert tracked == [(1, 2, ["t-1", "t-2"])]
    health = {
        r[0].rsplit("/", 1)[-1]: r[1:]
        for r in rows(
            env,
            "SELECT url, last_status, etag, consecutive_failures, soft_failures, "
            "hard_failures, quarantined_until IS NOT NULL, last_error FROM feeds",
        )
    }
    assert health["tracked.xml"][:6] == (200, '"tracked-v1"', 0, 0, 0, False)
    assert health["broken.xml"][:6] == (500, None, 1, 1, 0, False)
    assert health["gone.xml"][:6] == (410, None, 1, 0, 1, True)  # 410 quarantines at once
    assert "entity declarations removed" in health["laughs.xml"][6]
    feed_rejects = dict(rows(env, "SELECT source, reason FROM rejects WHERE stage = 'feed'"))
    assert feed_rejects == {
        srv.url("/feeds/broken.xml"): "http_500",
        srv.url("/feeds/gone.xml"): "http_410",
    }

    before = rows(env, "SELECT count(*) FROM articles")
    hits_gone = srv.count("/feeds/gone.xml")
    second = run_cli(["ingest-feeds", "--feeds-file", str(feeds_file)], env, tmp_path)
    assert second["exit"] == 0, second["stderr"][-3000:]
    assert rows(env, "SELECT count(*) FROM articles") == before
    status_now = dict(rows(env, "SELECT url, last_status FROM feeds"))
    assert status_now[srv.url("/feeds/tracked.xml")] == 304
    assert srv.count("/feeds/gone.xml") == hits_gone  # quarantined: not polled again
    assert "quarantined" in second["stdout"]
    broken = rows(env, "SELECT consecutive_failures FROM feeds WHERE url LIKE '%broken.xml'")
    assert broken == [(2,)]


def test_url_list_seed_files_are_fetched(
    servers: tuple[FaultServer, FaultServer], env: dict[str, str], tmp_path: Path
) -> None:
    srv, _ = servers
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "list.txt").write_text(f"# to read\n{srv.url('/ok')}\n{srv.url('/gone-page')}\n")
    result = run_cli(["ingest-seeds", str(folder)], env, tmp_path)
    assert result["exit"] == 0, result["stderr"][-3000:]
    assert rows(env, "SELECT url, origin FROM articles") == [(srv.url("/ok"), "seed")]
    assert rows(env, "SELECT source, stage, reason FROM rejects") == [
        (srv.url("/gone-page"), "fetch", "http_404")
    ]
