"""The quality gate's fast subset: newsflow's extraction must not fall below the pinned
baseline (eval/baseline.json) on any of the three shared sets.

``make eval`` runs every page and prints newsflow beside bare trafilatura.
"""

from __future__ import annotations

import json

import pytest

from eval.corpora import EVAL_ROOT, SETS
from eval.evaluate import BASELINE, TOLERANCE, evaluate, regressions


@pytest.mark.skipif(not EVAL_ROOT.exists(), reason=f"no eval sets at {EVAL_ROOT}")
def test_extraction_quality_does_not_regress_on_the_fast_subset() -> None:
    pinned = json.loads(BASELINE.read_text())["subset"]
    report = evaluate(SETS, subset=True, with_bare=False, workers=2)
    for set_name in SETS:
        assert report[set_name]["newsflow"]["pages"] >= 20, set_name
    assert regressions(report, pinned) == [], f"tolerance {TOLERANCE}"
