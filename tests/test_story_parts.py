"""Verification's per-sentence figures, made in one pass per text (tasks/boilerplate.py), equal
those made sentence by sentence: each sentence's own shingles and how many of them another
text holds (novel_share), the fact template and the content words."""

from __future__ import annotations

import random

import numpy as np

from newsflow.tasks import boilerplate as bp
from newsflow.tasks.near_duplicates import distinct, shingle_hashes

from .test_extract import PARAGRAPHS

TEXTS = [
    "\n".join(PARAGRAPHS),
    "One.\nTwo words.\nA b c d.\nx",  # sentences under and at the shingle size
    "Share this story. The Mayor of Springfield said 42 new homes open in May.",
    "\n".join(reversed(PARAGRAPHS)) + "\nSubscribe to our newsletter for more news.",
    "Hi!",
]


def _reference_novel(
    story: bp.Story, parts: list[tuple[list[str], list[str]]], other: bp.Story
) -> tuple[float, float]:
    """novel_share as it was written sentence by sentence (np.isin per sentence)."""
    total = sum(story.words)
    novel = partial = 0
    for ws, _ in parts:
        n = len(ws)
        if n < 3:
            continue
        own = distinct(shingle_hashes(ws))
        found = np.isin(own, other.shingles, assume_unique=True).sum()
        mine = frozenset(w for w in ws if len(w) >= bp.CONTENT_LETTERS)
        if found <= 0.1 * len(own):
            if (
                other.vocabulary
                and mine
                and len(mine & other.vocabulary) >= bp.REWORDED_TERMS * len(mine)
            ):
                partial += n
                continue
            novel += n
        elif found < 0.9 * len(own):
            partial += n
    return (novel / total, partial / total) if total else (0.0, 0.0)


def test_per_sentence_figures_equal_those_made_sentence_by_sentence() -> None:
    rng = random.Random(5)
    made = []
    for text in TEXTS:
        parts = bp.units(text)
        for boiler in (frozenset(), frozenset(h for h, _, _ in parts if rng.random() < 0.3)):
            kept = [(ws, fs) for h, ws, fs in parts if h not in boiler]
            story = bp.substantive(parts, boiler)
            bounds = [0, *story.ends.tolist()]
            assert len(bounds) - 1 == len(kept)
            for i, (ws, _) in enumerate(kept):
                expected = np.sort(distinct(shingle_hashes(ws)).view(np.uint64))
                assert np.array_equal(np.sort(story.own[bounds[i] : bounds[i + 1]]), expected)
                assert story.terms(i) == frozenset(w for w in ws if len(w) >= 4)
            template = [
                w if i == 0 or w not in set(fs) else "\x00fact"
                for ws, fs in kept
                for i, w in enumerate(ws)
            ]
            assert story.template() == template
            words = [w for ws, _ in kept for w in ws]
            assert story.vocabulary == frozenset(w for w in words if len(w) >= 4)
            made.append((story, kept))
    assert any(len(s.words) > 3 for s, _ in made)
    for story, kept in made:
        for other, _ in made:
            reference = _reference_novel(story, kept, other)
            assert bp.novel_share(story, other.shingles, other.vocabulary) == reference
