"""Real article texts for benchmarks: the human ground truth of the shared eval sets.

Read in place from ``<repo>/../shared/eval`` (wcxb-dev main content, fundus bodies); when
more texts are wanted than the sets hold, the rest are the same texts with one paragraph
dropped (near-duplicates, as feeds deliver them).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from eval.corpora import EVAL_ROOT as EVAL  # also found from a nested checkout


def texts(n: int) -> list[tuple[str, str]]:
    """``n`` (url, text) pairs of real article texts."""
    found: list[tuple[str, str]] = []
    for path in sorted((EVAL / "wcxb-dev" / "ground-truth").glob("*.json")):
        item = json.loads(path.read_text())
        body = (item["ground_truth"].get("main_content") or "").strip()
        if len(body.split()) >= 50:
            found.append((item.get("url") or f"https://wcxb.example/{path.stem}", body))
    truth = json.loads((EVAL / "fundus" / "ground_truth.json").read_text())
    for name in sorted(truth):
        found.append((truth[name]["url"], "\n".join(p.strip("[]") for p in truth[name]["body"])))
    out = list(found[:n])
    i = 0
    while len(out) < n:
        url, body = found[i % len(found)]
        lines = body.split("\n")
        if len(lines) > 2:
            del lines[1 + i % (len(lines) - 1)]
        host = urlsplit(url).hostname or "x.example"
        out.append((f"https://copy{i}.{host}/syndicated/{i}", "\n".join(lines)))
        i += 1
    return out
