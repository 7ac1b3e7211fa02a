"""The hard near-duplicate evaluation as a quality gate, on a smaller corpus than ``make eval``
(eval/neardup_hard.py): short stories under long shared furniture, templated briefs
and syndicated copies, generated from the shared eval pages and ingested through the loader."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from eval.corpora import EVAL_ROOT
from eval.neardup import ingest
from eval.neardup_hard import make_corpus, score


@pytest.mark.slow
@pytest.mark.skipif(not EVAL_ROOT.exists(), reason=f"no eval sets at {EVAL_ROOT}")
def test_shared_furniture_never_links_stories_and_copies_still_link() -> None:
    docs = make_corpus(400, seed=23)
    with tempfile.TemporaryDirectory() as tmp:
        clusters = ingest(docs, Path(tmp) / "gate.duckdb", f"{tmp}/spool")
    result = score(docs, clusters)
    assert result["positive_pairs"] >= 100
    assert result["pair_precision"] >= 0.999, result
    # A regression floor: the target (R >= 0.95, `make eval`) is met on some corpora and
    # missed narrowly on others (0.94-0.98 across seeds), so the gate guards the level reached.
    assert result["pair_recall"] >= 0.93, result
