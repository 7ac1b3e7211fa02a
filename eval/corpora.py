"""The three evaluation sets of ``<repo>/../shared/eval`` and their metrics (see its README).

Pages are read in place (never copied into the repo), one at a time, decoded once with
trafilatura's own decoder so every system scores the same ``str``.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trafilatura.utils import decode_file

_REPO = Path(__file__).resolve().parents[1]
# ``<repo>/../shared/eval``; a checkout one level deeper (a git worktree in a folder of
# worktrees) finds it one level up.
EVAL_ROOT = next(
    (p / "shared" / "eval" for p in (_REPO.parent, _REPO.parent.parent) if (p / "shared").is_dir()),
    _REPO.parent / "shared" / "eval",
)
SETS = ("fundus", "wcxb-dev", "trafilatura-eval")
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Page:
    set_name: str
    page_id: str
    url: str
    html: str
    truth: Any


def _read(path: Path) -> str:
    return decode_file(gzip.decompress(path.read_bytes()))


def pages(set_name: str, ids: set[str] | None = None) -> Iterator[Page]:
    """The pages of a set in a stable order (only ``ids`` if given)."""
    root = EVAL_ROOT / set_name
    if set_name == "fundus":
        truth = json.loads((root / "ground_truth.json").read_text())
        for name in sorted(truth):
            if ids is None or name in ids:
                item = truth[name]
                yield Page(set_name, name, item["url"], _read(root / "html" / name), item["body"])
    elif set_name == "wcxb-dev":
        for path in sorted((root / "ground-truth").glob("*.json")):
            page_id = path.stem
            if ids is not None and page_id not in ids:
                continue
            item = json.loads(path.read_text())
            gt = item["ground_truth"]
            html = _read(root / "html" / f"{page_id}.html.gz")
            yield Page(set_name, page_id, item.get("url") or "", html, gt)
    elif set_name == "trafilatura-eval":
        data = json.loads((root / "evaldata.json").read_text())
        for url in sorted(data):
            item = data[url]
            page_id = item["file"]
            if ids is not None and page_id not in ids:
                continue
            path = root / "cache" / f"{page_id}.gz"
            if not path.exists():
                path = root / "eval" / f"{page_id}.gz"
            yield Page(set_name, page_id, url, _read(path), item)
    else:
        raise ValueError(set_name)


# --- metrics: each returns per-page counts; ``aggregate`` turns a list of them into P/R/F1.


def _shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = _WORD.findall(text)
    return Counter(tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3))


def fundus_reference(body: list[str]) -> str:
    return "\n\n".join(p[1:-1] if p.startswith("[") and p.endswith("]") else p for p in body)


def score_page(page: Page, output: str | None) -> dict[str, float]:
    """Per-page counts in the form ``aggregate`` expects for that set."""
    out = output or ""
    if page.set_name == "fundus":
        ref, got = _shingles(fundus_reference(page.truth)), _shingles(out)
        tp = sum((ref & got).values())
        fp = sum((got - ref).values())
        fn = sum((ref - got).values())
        total = tp + fp + fn or 1
        return {
            "tp": tp / total,
            "fp": fp / total,
            "fn": fn / total,
            "has_output": float(bool(out)),
        }
    if page.set_name == "wcxb-dev":
        ref_bag = Counter(_WORD.findall((page.truth.get("main_content") or "").lower()))
        got_bag = Counter(_WORD.findall(out.lower()))
        common = sum((ref_bag & got_bag).values())
        p = common / sum(got_bag.values()) if got_bag else 0.0
        r = common / sum(ref_bag.values()) if ref_bag else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"p": p, "r": r, "f": f, "empty_truth": float(not ref_bag)}
    norm = _SPACE.sub(" ", out).strip()
    tp = sum(1 for s in page.truth["with"] if _SPACE.sub(" ", s).strip() in norm)
    fn = len(page.truth["with"]) - tp
    fp = sum(1 for s in page.truth["without"] if _SPACE.sub(" ", s).strip() in norm)
    return {"tp": tp, "fp": fp, "fn": fn}


def aggregate(set_name: str, scores: list[dict[str, float]]) -> dict[str, float]:
    """Precision, recall and F1 of a set, by that set's published rule."""
    if not scores:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "pages": 0}
    if set_name == "fundus":
        with_output = [s for s in scores if s["has_output"]]
        p = sum(s["tp"] / ((s["tp"] + s["fp"]) or 1) for s in with_output) / max(
            len(with_output), 1
        )
        r = sum(s["tp"] / ((s["tp"] + s["fn"]) or 1) for s in scores) / len(scores)
        f = 2 * p * r / (p + r) if p + r else 0.0
    elif set_name == "wcxb-dev":
        kept = [s for s in scores if not s["empty_truth"]]  # page 4893 has no main content
        p = sum(s["p"] for s in kept) / len(kept)
        r = sum(s["r"] for s in kept) / len(kept)
        f = sum(s["f"] for s in kept) / len(kept)
    else:
        tp = sum(s["tp"] for s in scores)
        fp = sum(s["fp"] for s in scores)
        fn = sum(s["fn"] for s in scores)
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"precision": p, "recall": r, "f1": f, "pages": len(scores)}
