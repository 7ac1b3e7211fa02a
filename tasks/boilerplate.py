"""Near-duplicates decided on the story: learned boilerplate is stripped before comparing.

Two articles are the same story when their *substantive* texts nearly match: the text left
once every sentence the warehouse has seen under several distinct stories (a site's footer,
a wire's funding disclaimer, a newsletter prompt, an author bio, a template's fixed lines)
is taken out. The method is Broder's shingle containment (Broder 1997, "On the resemblance
and containment of documents"), applied to the boilerplate-stripped text:

- Broder's containment of w-shingle sets is the measure syndication calls for: a copy that
  dropped or edited a sentence is still contained in the original. Henzinger (2006,
  "Finding near-duplicate web pages: a large-scale evaluation of algorithms") compared it
  (minhash over shingles) with Charikar's SimHash on 1.6 billion pages: overall precision
  about 0.38 and 0.50, and most false positives were pages of one site that share its
  template and differ in their content: the failure this module exists to avoid. Manku et
  al. (2007, "Detecting near-duplicates for web crawling") tuned SimHash (64-bit
  fingerprints, 3-bit Hamming distance) for crawl-level duplicates: one fingerprint of a
  whole 40-word story under 60 words of footer cannot tell "same footer" from "same story".
  Both point at what is compared rather than at the fingerprint, so verification stays exact
  on shingle sets (LSH only proposes candidates) and compares the text without furniture.
- Boilerplate is learned from the data, as template detection by frequency across pages
  does (Bar-Yossef and Rajagopalan 2002, "Template detection via data mining"): a sentence
  is boilerplate once ``DOMAIN_STORIES`` distinct stories of one domain, or ``ANY_STORIES``
  across all domains, contain it. Only stories count (each cluster's representative), so a
  story syndicated a hundred times never becomes boilerplate. The counts live in the
  warehouse (``text_units``): the judgement improves as it grows and survives restarts.
- Verification on the stripped texts: most of the smaller text's shingles are in the other
  (``MIN_CONTAINMENT``), the lengths are comparable, the facts (numbers, names) agree (a
  templated brief shares the template's words, not its facts; only the facts of sentences
  the two texts do not share verbatim count, since furniture not learned yet brings its own
  names and numbers into every brief of a site), and little of either text is
  *novel* (whole sentences the other never tells; a sentence its domain has shown in another
  story, too few times to be boilerplate yet, is the site's furniture and never novel).
  Furniture not learned yet (its first uses)
  can make up two thirds of two short texts, but two stories under it each keep whole
  sentences of their own, while copies, even reworded, keep most sentences at least in part.
- Both last tests are calibrated on what edits do. Facts that disagree reject a pair only
  when masking every fact makes the texts match markedly better (``MAX_TEMPLATE_GAIN``): the
  texts then differ in a template's slots, not in words edited around the facts (two copies
  reworded independently each gain facts the other lacks). A sentence whose shingles are all
  gone is novel only when most of its content words are missing too: rewording 30-60% of a
  sentence's words breaks nearly every 3-word shingle but keeps half its words.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from newsflow.tasks.near_duplicates import SHINGLE, WORD, distinct, mix, shingle_hashes, word_hashes

RULE = "story-v2"  # recorded with every link (duplicate_links.rule)
# A sentence is boilerplate once this many distinct stories contain it: of one domain, or
# of all domains together. Syndicated stories count once per cluster, so these can be low.
DOMAIN_STORIES = 3
ANY_STORIES = 4
# Verification on the boilerplate-stripped shingle sets: share of the smaller set found in
# the larger, and smallest size ratio smaller/larger.
MIN_CONTAINMENT = 0.4
HIGH_CONTAINMENT = 0.7
# Two different stories under shared furniture each have whole sentences the other never
# told; copies (even reworded) have few. The smaller of the two texts' novel shares may be
# at most MAX_NOVEL (MAX_NOVEL_HIGH when containment is HIGH_CONTAINMENT or more).
MAX_NOVEL = 0.2
MAX_NOVEL_HIGH = 0.3
MIN_LENGTH_RATIO = 0.3
# Substantive texts with fewer shingles than this are never near-duplicates (too little
# story to tell; exact copies are still found by content_hash).
MIN_SHINGLES = 10
# Templated briefs share a template and differ in their facts (numbers, names): copies keep
# most of them. Checked when both texts have at least MIN_FACTS distinct facts.
MIN_FACTS = 8
MIN_FACT_CONTAINMENT = 0.5
LOW_FACT_CONTAINMENT = 0.7  # when the shingles agree less (containment under 0.6)
# Facts that disagree are forgiven when masking them gains at most this much containment:
# the texts then differ in their ordinary words as much (edits), not in a template's slots.
MAX_TEMPLATE_GAIN = 0.1
_FACT = "\x00fact"
# A sentence whose shingles are (next to) all missing in the other text is still told there,
# reworded, when at least this share of its content words (CONTENT_LETTERS letters or more,
# which leaves out most function words) occurs in the other text.
REWORDED_TERMS = 0.5
CONTENT_LETTERS = 4

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+")


def sentences(text: str) -> list[str]:
    """The text's sentences (lines split after sentence-ending punctuation)."""
    out = []
    for line in text.split("\n"):
        out += [s for s in _SENTENCE_END.split(line) if s.strip()]
    return out


def unit_hash(words: list[str]) -> int:
    """Stable signed 64-bit hash of a sentence's case-folded words."""
    digest = hashlib.blake2b(" ".join(words).encode("utf-8", "replace"), digest_size=8)
    return int.from_bytes(digest.digest(), "little", signed=True)


Unit = tuple[int, list[str], list[str]]  # (hash, folded words, folded facts)


def boilerplate_of(
    hashes: Iterable[int],
    domain: str,
    domain_stories: Mapping[tuple[int, str], int],
    all_stories: Mapping[int, int],
) -> frozenset[int]:
    """The sentence hashes of ``hashes`` that are boilerplate on ``domain``: seen in that many
    stories of the domain, or of all (the counts by (hash, domain) and by hash)."""
    return frozenset(
        h
        for h in hashes
        if domain_stories.get((h, domain), 0) >= DOMAIN_STORIES
        or all_stories.get(h, 0) >= ANY_STORIES
    )


def units(text: str) -> list[Unit]:
    """(hash, folded words, facts) of each sentence that has words, in text order.

    Facts are the tokens that carry a brief's particulars: numbers, and capitalised words
    other than a sentence's first (names, places, teams, companies)."""
    out = []
    for sentence in sentences(text):
        tokens = WORD.findall(sentence)
        if tokens:
            words = list(map(str.casefold, tokens))
            facts = [
                w
                for t, w in zip(tokens[1:], words[1:], strict=True)
                if t[0].isupper() or t[0].isdigit()
            ]
            out.append((unit_hash(words), words, facts))
    return out


@dataclass(frozen=True, slots=True)
class Story:
    """What verification compares: the substantive text's shingles and facts."""

    shingles: np.ndarray
    facts: frozenset[str]
    # each substantive sentence's own distinct shingles (uint64), one sentence after another,
    # and where each sentence's end in ``own``: compared with another text in one pass
    own: np.ndarray
    ends: np.ndarray
    words: tuple[int, ...]  # and its word count
    kept: tuple[tuple[list[str], list[str]], ...] = ()  # each one's (words, facts)
    vocabulary: frozenset[str] = frozenset()  # the words of CONTENT_LETTERS or more
    sentences: tuple[int, ...] = ()  # each one's unit_hash
    # sentences its domain has shown in another story, too few times to be boilerplate yet:
    # likely the site's furniture, so never the story's own novel text
    furniture: frozenset[int] = frozenset()

    def template(self) -> list[str]:
        """The words with each fact replaced by one placeholder (asked rarely: made then)."""
        out: list[str] = []
        for ws, fs in self.kept:
            found = set(fs)
            out += [w if i == 0 or w not in found else _FACT for i, w in enumerate(ws)]
        return out

    def terms(self, sentence: int) -> frozenset[str]:
        """The sentence's words of CONTENT_LETTERS or more."""
        return frozenset(w for w in self.kept[sentence][0] if len(w) >= CONTENT_LETTERS)


def substantive(
    parts: list[Unit],
    boilerplate: set[int] | frozenset[int],
    furniture: frozenset[int] = frozenset(),
) -> Story:
    """The text without its boilerplate sentences: its shingle set and its facts."""
    kept = [(ws, fs) for h, ws, fs in parts if h not in boilerplate]
    sentences = tuple(h for h, _, _ in parts if h not in boilerplate)
    words = [w for ws, _ in kept for w in ws]
    facts = frozenset(f for _, fs in kept for f in fs)
    hashes = word_hashes(words) if words else np.empty(0, dtype=np.uint64)
    whole = mix(hashes)  # the text's shingles, across sentence ends (= shingle_hashes(words))
    shingles = distinct(whole) if words else np.empty(0, dtype=np.int64)
    lengths = tuple(len(ws) for ws, _ in kept)
    own, ends = _sentence_shingles(hashes, whole, lengths)
    vocabulary = frozenset(w for w in words if len(w) >= CONTENT_LETTERS)
    return Story(shingles, facts, own, ends, lengths, tuple(kept), vocabulary, sentences, furniture)


def _sentence_shingles(
    hashes: np.ndarray, whole: np.ndarray, lengths: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Each sentence's distinct ``shingle_hashes`` (its words' shingles, or its word hashes
    when it has fewer than ``SHINGLE`` words), cut from the whole text's arrays in one pass
    rather than a few numpy calls per sentence: (values one sentence after another, ends)."""
    n = np.asarray(lengths, dtype=np.int64)
    if not len(n):
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    starts = np.cumsum(n) - n
    long = n >= SHINGLE
    count = np.where(long, n - (SHINGLE - 1), n)
    seg = np.repeat(np.arange(len(n)), count)
    pos = starts[seg] + np.arange(int(count.sum())) - (np.cumsum(count) - count)[seg]
    padded = np.concatenate((whole, np.zeros(SHINGLE - 1, dtype=np.uint64)))
    values = np.where(long[seg], padded[pos], hashes[pos])
    order = np.lexsort((values, seg))
    values, seg = values[order], seg[order]
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = (values[1:] != values[:-1]) | (seg[1:] != seg[:-1])
    return values[keep], np.cumsum(np.bincount(seg[keep], minlength=len(n)))


def template_gain(a: Story, b: Story, containment: float) -> float:
    """How much the containment rises once every fact is masked in both texts.

    Templated briefs differ in their facts only, so masking them makes the texts match
    (a large gain); copies that disagree on facts because words were edited around them
    differ in ordinary words as much, so masking gains little."""
    mine, theirs = a.template(), b.template()
    if not mine or not theirs:
        return 0.0
    masked, _ = compare(distinct(shingle_hashes(mine)), distinct(shingle_hashes(theirs)))
    return masked - containment


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(containment of the smaller set in the larger, size ratio smaller/larger)."""
    if not len(a) or not len(b):
        return 0.0, 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    common = np.intersect1d(small, large, assume_unique=True).size
    return common / len(small), len(small) / len(large)


def differing_facts(a: Story, b: Story) -> tuple[frozenset[str], frozenset[str]]:
    """Each text's facts outside the sentences both hold verbatim. A shared sentence says
    nothing of whether the facts were changed: a copy shares its story's, and a site's
    furniture not yet learned as boilerplate (its names, its numbers) is shared by every
    brief of a template, whose own facts differ."""
    shared = set(a.sentences) & set(b.sentences)
    if not shared:
        return a.facts, b.facts

    def outside(story: Story) -> frozenset[str]:
        kept = zip(story.sentences, story.kept, strict=True)
        return frozenset(f for h, (_, fs) in kept if h not in shared for f in fs)

    return outside(a), outside(b)


def fact_containment(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of the smaller fact set found in the other (1.0 when either has too few)."""
    if len(a) < MIN_FACTS or len(b) < MIN_FACTS:
        return 1.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return len(small & large) / len(small)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one verification and its evidence."""

    same: bool
    containment: float
    ratio: float = 0.0
    facts: float = 1.0
    novel: float = 0.0


def same_story(a: Story, b: Story) -> Verdict:
    """Whether two substantive texts tell the same story, with the figures that decided."""
    if len(a.shingles) < MIN_SHINGLES or len(b.shingles) < MIN_SHINGLES:
        return Verdict(False, 0.0)
    containment, ratio = compare(a.shingles, b.shingles)
    if containment < MIN_CONTAINMENT or ratio < MIN_LENGTH_RATIO:
        return Verdict(False, containment, ratio)
    facts = fact_containment(*differing_facts(a, b))
    if facts < (MIN_FACT_CONTAINMENT if containment >= 0.6 else LOW_FACT_CONTAINMENT) and (
        template_gain(a, b, containment) > MAX_TEMPLATE_GAIN
    ):
        return Verdict(False, containment, ratio, facts)
    novel = min(
        novel_share(a, b.shingles, b.vocabulary)[0], novel_share(b, a.shingles, a.vocabulary)[0]
    )
    allowed = MAX_NOVEL_HIGH if containment >= HIGH_CONTAINMENT else MAX_NOVEL
    return Verdict(novel <= allowed, containment, ratio, facts, novel)


def novel_share(
    story: Story, other: np.ndarray, vocabulary: frozenset[str] | None = None
) -> tuple[float, float]:
    """Shares of the story's substantive words in sentences (3+ words) that have next to
    nothing in ``other`` (at most a tenth of their shingles, and, given the other's
    ``vocabulary``, under REWORDED_TERMS of their content words: text the other never
    told), and in sentences partly found there (edited, reworded)."""
    # furniture is never novel, and stays in the total (it is text both may share)
    skip = [h in story.furniture for h in story.sentences] if story.furniture else None
    total = sum(story.words)
    novel = partial = 0
    found, sizes = _found(story, other)
    for i, (n, hits, size) in enumerate(zip(story.words, found, sizes, strict=True)):
        if n < 3 or (skip and skip[i]):
            continue
        if hits <= 0.1 * size:
            mine = story.terms(i) if vocabulary else None
            if vocabulary and mine and len(mine & vocabulary) >= REWORDED_TERMS * len(mine):
                partial += n
                continue
            novel += n
        elif hits < 0.9 * size:
            partial += n
    return (novel / total, partial / total) if total else (0.0, 0.0)


def _found(story: Story, other: np.ndarray) -> tuple[list[int], list[int]]:
    """Per sentence of ``story``: how many of its own shingles ``other`` (distinct) holds,
    and how many it has."""
    ends = story.ends
    bounds = np.concatenate(([0], ends))
    sizes: list[int] = np.diff(bounds).tolist()
    ref = np.sort(other.view(np.uint64))
    if not len(ref) or not len(story.own):
        return [0] * len(sizes), sizes
    at = np.minimum(np.searchsorted(ref, story.own), len(ref) - 1)
    held = np.concatenate(([0], np.cumsum(ref[at] == story.own)))
    return (held[bounds[1:]] - held[bounds[:-1]]).tolist(), sizes
