"""Templated briefs under a site's furniture that is not yet learned as boilerplate: the
furniture's names and numbers are shared by every brief and must not count as the story's
facts agreeing (tasks/boilerplate.same_story compares the facts outside the sentences both
texts hold verbatim). A copy of one brief under the same furniture stays the same story."""

from __future__ import annotations

import random

from newsflow.tasks import boilerplate as bp

FURNITURE = (
    "Earn 3X Harbor Rewards points with every Coastline Card purchase at Seaview Market, "
    "Dockside Fuel and The Pier Collection stores. Members get 2 free nights a year at "
    "Bayfront Inns and Lighthouse Suites through Harbor Travel, on up to $40,000 of "
    "purchases per calendar year."
)
TEMPLATE = (
    "REPORT: {0} {1} told the {2} council on {3} that {4} new homes would open near {5} by "
    "{6}, in a plan drawn up with {7} and the {8} trust. The plan, backed by {9} {10}, costs "
    "{11} and replaces the {12} depot that has stood empty since {13}. Residents in {14} "
    "asked the council to publish the full costs before the vote on {15}."
)
NAMES = [
    "Ada",
    "Brook",
    "Cole",
    "Dunn",
    "Ellis",
    "Ford",
    "Grant",
    "Hale",
    "Irwin",
    "Joyce",
    "Kemp",
    "Lowe",
    "Marsh",
    "Nash",
    "Owen",
    "Price",
    "Quinn",
    "Reyes",
    "Stone",
    "Tate",
    "Upton",
    "Vance",
    "Wade",
    "Yates",
    "Zell",
    "Ashby",
    "Barrow",
    "Calder",
    "Dorset",
    "Eton",
    "Fenwick",
    "Garrow",
    "Holt",
    "Ilford",
    "Jarrow",
    "Kendal",
    "Ludlow",
    "Malton",
    "Newark",
    "Oakham",
]


def _brief(rng: random.Random) -> str:
    slots = [
        rng.choice(NAMES) if i not in (4, 11, 13) else str(rng.randint(10, 9999)) for i in range(16)
    ]
    return TEMPLATE.format(*slots)


def _story(text: str) -> bp.Story:
    return bp.substantive(bp.units(text), frozenset())  # nothing learned yet


def test_briefs_of_one_template_under_shared_furniture_are_different_stories() -> None:
    rng = random.Random(3)
    briefs = [_brief(rng) for _ in range(12)]
    stories = [_story(f"{b}\n{FURNITURE}") for b in briefs]
    linked = [
        (i, j)
        for i in range(len(stories))
        for j in range(i + 1, len(stories))
        if bp.same_story(stories[i], stories[j]).same
    ]
    assert linked == []
    # the texts do look alike: only the facts tell them apart
    assert bp.same_story(stories[0], stories[1]).containment >= bp.MIN_CONTAINMENT


def test_a_copy_under_the_same_furniture_with_one_sentence_edited_is_the_same_story() -> None:
    brief = _brief(random.Random(5))
    first, rest = brief.split(". ", 1)
    copy = f"{first.replace('told', 'informed')}. {rest}"
    verdict = bp.same_story(_story(f"{brief}\n{FURNITURE}"), _story(f"{FURNITURE}\n{copy}"))
    assert verdict.same
