"""One sentence in common is a quotation, not a copy (warehouse/stories.py,
``EVIDENCE_SHARE``): a long new story that quotes one sentence of a stored one does not
propose it as a candidate (no representative is read, nothing is compared), while a copy
under other furniture, which shares most of its sentences, still does and joins it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from newsflow.settings import Settings
from newsflow.tasks.process import process_candidates
from newsflow.tasks.records import Candidate
from newsflow.tasks.spool import pending, write_batch
from newsflow.warehouse.db import connect_writer
from newsflow.warehouse.loader import load_batches
from newsflow.warehouse.stories import KeyIndex, Representatives

T0 = datetime(2025, 3, 1, tzinfo=UTC)
QUOTE = "We will not close a single rural school while I am the minister for education."
BUDGET = (
    "The regional government presented its budget for next year on Thursday morning. "
    "Spending on hospitals rises by four percent, the largest increase in a decade. "
    "Road maintenance loses a fifth of its funds, which the opposition called reckless. "
    f"{QUOTE} "
    "Teachers' unions welcomed the promise but asked for written guarantees by March. "
    "The finance committee will debate the draft for three weeks before the final vote. "
    "Tax rates stay unchanged, although the fee for hunting licences doubles in autumn. "
    "A new fund of twelve million will help villages repair their water pipes. "
    "Economists at the central bank expect growth to slow during the second half. "
    "The budget must pass before the end of December or spending is frozen. "
    "Pensioners receive a one-off heating allowance of two hundred in January. "
    "The museum of regional history gets money for a new roof after years of leaks. "
    "Farmers asked for help with drought losses but the draft offers only loans. "
    "Debt repayments take a smaller share of revenue than they did five years ago. "
    "The auditor warned that the forecast for tourism income looked too optimistic. "
    "Two ministries will merge their offices in the old customs building downtown. "
    "Sports clubs keep their grants, although the new stadium plan was postponed. "
    "The police academy may train sixty more recruits if the draft passes unchanged. "
    "Libraries will open on Sunday afternoons in the four largest towns from spring. "
    "Regional radio loses its subsidy, and its director said jobs were at risk. "
    "Opposition leaders promised amendments on roads, schools and rural buses."
)
STRIKE = (
    "Bus drivers in the northern valleys walked out on Monday over unpaid overtime. "
    "Hundreds of pupils could not reach their classrooms and stayed home with parents. "
    "At a rally outside parliament the minister repeated a promise made last week. "
    f"{QUOTE} "
    "Drivers said the promise meant little if nobody could get the children there. "
    "The transport company offered a bonus that the union rejected within an hour. "
    "Mediators from the labour office will meet both sides again on Friday afternoon. "
    "Several mayors opened their town halls as warm rooms for waiting families. "
    "The last strike in the valleys lasted nine days and ended with a pay rise. "
    "Police reported no incidents, although traffic jams formed near the capital. "
    "Shop owners along the valley road said takings fell by half during the stoppage. "
    "A retired driver brought coffee and sandwiches to the picket line at dawn. "
    "The company's chief executive did not attend the talks and sent a lawyer instead. "
    "Commuters shared cars through a message board set up by the local radio station. "
    "Hospital staff on early shifts were collected by volunteers with minibuses. "
    "The union's treasurer said the strike fund could pay members for two weeks. "
    "Students sitting exams were allowed to take them online from home this week. "
    "Ticket refunds will be paid automatically to holders of monthly passes. "
    "An opinion poll found most residents blamed the company rather than the drivers. "
    "The regional assembly scheduled an urgent debate on public transport contracts. "
    "Drivers plan a second rally at the depot if Friday's meeting brings no offer."
)
FURNITURE = (
    "Subscribe to the Valley Courier for news from every village, delivered each morning. "
    "Our newsroom is funded by readers and follows the press council's code of practice."
)


class Recording(Representatives):
    """Representatives that records which past stories a load asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def get(
        self, con: duckdb.DuckDBPyConnection, wanted: dict[str, str], keys: KeyIndex | None = None
    ) -> dict[str, Any]:
        self.asked += list(wanted)
        return super().get(con, wanted, keys)


def _load(settings: Settings, url: str, text: str, hours: int, reps: Recording) -> None:
    batch = process_candidates(
        [Candidate("url", url, url, title="t", text=text)], "test", now=T0 + timedelta(hours=hours)
    )
    write_batch(batch, settings.spool)
    con = connect_writer(settings.db, 30)
    try:
        load_batches(con, settings.spool, pending(settings.spool), representatives=reps)
    finally:
        con.close()


def _ids(settings: Settings) -> dict[str, tuple[str, str | None]]:
    con = duckdb.connect(str(settings.db), read_only=True)
    try:
        rows = con.execute("SELECT url, article_id, duplicate_of FROM articles").fetchall()
    finally:
        con.close()
    return {url: (aid, dup) for url, aid, dup in rows}


def test_a_quoted_sentence_proposes_no_story_but_a_copy_does(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "n.duckdb", spool=str(tmp_path / "s"), _env_file=None)  # type: ignore[call-arg]
    reps = Recording()
    _load(settings, "https://gazette.example/budget", BUDGET, 0, reps)
    budget_id = _ids(settings)["https://gazette.example/budget"][0]
    _load(settings, "https://tribune.example/strike", STRIKE, 1, reps)
    assert budget_id not in reps.asked  # one sentence of 21 in common: not a candidate
    assert _ids(settings)["https://tribune.example/strike"][1] is None
    _load(settings, "https://courier.example/budget", f"{FURNITURE}\n{BUDGET}", 2, reps)
    assert budget_id in reps.asked
    assert _ids(settings)["https://courier.example/budget"][1] == budget_id
