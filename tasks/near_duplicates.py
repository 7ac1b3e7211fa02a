"""Near-duplicate detection: MinHash over word shingles, LSH bands, exact verification.

Workers compute each article's band keys (``band_keys``, ~0.2 ms a text with rensa); the
loader stores them in ``article_bands`` and finds candidates by joining a batch's keys
against every past run (warehouse/stories.py). LSH only proposes: candidates are verified
on the boilerplate-stripped texts against the cluster's representative (tasks/boilerplate.py
decides; ``is_near_duplicate`` below is the whole-text check the evaluation scripts use to
drop pages the corpus itself holds twice).

Parameters (``eval/neardup.py`` measures them on real extractions with edits):
shingles of ``SHINGLE`` words, ``NUM_PERM`` permutations cut into ``BANDS`` bands of
``ROWS`` rows. Two texts share a band with probability 1 - (1 - J^ROWS)^BANDS for shingle
Jaccard J. Measured on the labelled pairs: edited copies have J >= 0.27 in 99% of pairs
(1 - (1 - 0.27^2)^36 = 0.93; at J = 0.4, 0.998), different stories of one site J <= 0.07 and
containment <= 0.22. Rows of 2 propose more candidates than rows of 3 would; verification
removes them.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib

import numpy as np
import rensa

from newsflow.tasks.contract import BANDS

SHINGLE = 3
ROWS = 2
NUM_PERM = BANDS * ROWS
SEED = 1_234_567
# Verification: the two texts' shingle sets overlap this much (of the smaller set), and
# the shorter text has at least MIN_LENGTH_RATIO of the longer one's shingles.
MIN_CONTAINMENT = 0.35
MIN_LENGTH_RATIO = 0.3
# Texts with fewer shingles than this get no bands: too short to call near-duplicates
# safely (exact duplicates are still found by content_hash).
MIN_SHINGLES = 10

WORD = re.compile(r"\w+")
_PACK = struct.Struct(f"<B{ROWS}I")
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
_WORD_HASHES: dict[str, int] = {}  # CRC-32 of each word seen (bounded, see _hashes)


def _hashes(words: list[str]) -> np.ndarray:
    cache = _WORD_HASHES
    try:  # most words of a warm process are known: skip building a set of them
        return np.fromiter(map(cache.__getitem__, words), dtype=np.uint64, count=len(words))
    except KeyError:
        pass
    if len(cache) > 500_000:
        cache.clear()
    for word in set(words).difference(cache):
        cache[word] = zlib.crc32(word.encode("utf-8", "replace")) | 1
    return np.fromiter(map(cache.__getitem__, words), dtype=np.uint64, count=len(words))


def shingle_hashes(words: list[str]) -> np.ndarray:
    """64-bit hashes of the ``SHINGLE``-word shingles of case-folded words, repeats kept.

    Stable across processes and machines (CRC-32 of each word, mixed by multiplication).
    """
    return mix(word_hashes(words))


def word_hashes(words: list[str]) -> np.ndarray:
    """The per-word hashes (uint64) that ``mix`` makes shingle hashes of."""
    return _hashes(words)


def mix(h: np.ndarray) -> np.ndarray:
    """Shingle hashes of consecutive word hashes ``h`` (``h`` itself when too few)."""
    if len(h) < SHINGLE:
        return h
    with np.errstate(over="ignore"):
        mixed: np.ndarray = (h[:-2] * _MIX[0]) ^ (h[1:-1] * _MIX[1]) ^ h[2:]
    return mixed


def folded_words(text: str) -> list[str]:
    return WORD.findall(text.casefold())


def shingles(text: str) -> set[int]:
    """The shingle set of a text, for verification (``is_near_duplicate``)."""
    return set(shingle_hashes(folded_words(text)).tolist())


def shingle_array(text: str, words: list[str] | None = None) -> np.ndarray:
    """The shingle set of a text as sorted distinct hashes (int64 view), for verification
    with ``is_near_duplicate_arrays``: the same set as ``shingles``, ~10x lighter."""
    return distinct(shingle_hashes(folded_words(text) if words is None else words))


def distinct(items: np.ndarray) -> np.ndarray:
    """Sorted distinct values as int64 (numpy's hash-based ``unique`` is ~10x slower here)."""
    ordered = np.sort(items)
    if len(ordered) > 1:
        ordered = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    return ordered.view(np.int64)


def band_keys(text: str, words: list[str] | None = None) -> list[int]:
    """One signed 64-bit key per band (the band's number is in the key), or [] if short.

    ``words``: the text's case-folded words, if the caller has them already.
    """
    return signature(shingle_hashes(folded_words(text) if words is None else words))


def signature(items: np.ndarray) -> list[int]:
    """Band keys of the shingle hashes ``items`` (``shingle_hashes``), or [] if too few."""
    # Repeated shingles do not change a MinHash, so they are not removed first.
    if len(items) < MIN_SHINGLES:
        return []
    offsets = np.array([0, len(items)], dtype=np.uint64)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(items, offsets, NUM_PERM, SEED)
    sig = matrix.to_rows()[0]
    keys = []
    for band in range(BANDS):
        packed = _PACK.pack(band, *sig[band * ROWS : (band + 1) * ROWS])
        digest = hashlib.blake2b(packed, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def similarity(a: set[int], b: set[int]) -> tuple[float, float]:
    """(containment of the smaller set in the other, size ratio smaller/larger)."""
    if not a or not b:
        return 0.0, 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return len(small & large) / len(small), len(small) / len(large)


def is_near_duplicate(a: set[int], b: set[int]) -> bool:
    """Whether two shingle sets are the same text give or take edits and page noise."""
    containment, ratio = similarity(a, b)
    return containment >= MIN_CONTAINMENT and ratio >= MIN_LENGTH_RATIO


def is_near_duplicate_arrays(a: np.ndarray, b: np.ndarray) -> bool:
    """``is_near_duplicate`` on two ``shingle_array`` results."""
    if not len(a) or not len(b):
        return False
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if len(small) < MIN_LENGTH_RATIO * len(large):
        return False
    common = np.intersect1d(small, large, assume_unique=True).size
    return common >= MIN_CONTAINMENT * len(small)
