"""Is there a story on the page? Pages with text but no story become ``no_story`` rejects.

Extraction always finds *some* text: on a page without a story it is the menu, a list of
links, a section's teasers, a "page not found" notice, a sign-in form's prompts or a cookie
banner. ``no_story(...)`` says which kind the page is (the reject's ``detail`` starts with
it), or None when it holds a story. It reads the text extraction kept (whatever mode made it)
against the page's own markup, with signals that do not depend on one site's layout:

- **story text**: lines that read as sentences (``SENTENCE_WORDS``+ words, or ending like a
  sentence), that are not a link's text, not short furniture (cookies, copyright,
  newsletters), not a notice and not a teaser. For a page that declares an article (og:type
  article, a schema.org Article type) its other unlinked lines count too (list items,
  captions). A story has ``MIN_STORY_WORDS`` words of it (``MIN_DECLARED_WORDS`` declared).
- **link lists**: lines that are the text of a link on the page (menus, related stories,
  most read): their share of the words, and how long the link texts are (headlines or
  section names).
- **teasers**: a paragraph in a small block (a card, a list item: under ``CARD_WORDS``
  words) with a headline link to another page of the site, or a short line that begins with
  such a headline.
- **notices**: "this article has been removed", "page not found", "404" in the titles or
  first lines; a sign-in prompt, or a password field on a page that declares no article.

The page is no story when, in this order: it says it is removed or not found and shows
under ``NOTICE_MAX_WORDS`` words of story (``removed``); it is a sign-in stub with less
than a story's worth (``login``); ``MIN_TEASERS`` or more teaser cards outweigh the rest
``TEASER_RATIO`` times on a page that declares no article (``listing``); or its story text
is short and links make ``LINK_SHARE`` of its words (``navigation``, or ``related_links``
when the links read as headlines) or furniture makes that share of the rest
(``boilerplate``: a cookie banner and the footer). Short text that none of these explain is
kept: a brief is a story. A page with no text at all is ``no_story`` only when it is a
site's page (``MIN_SITE_LINKS`` links) that declares no article; otherwise the caller's
fallbacks apply (the meta description as ``not_article``, else ``empty_text``).

Measured on the quality gate's 1,781 pages (eval/evaluate.py lists what newsflow
rejects, by reason): one is rejected as no_story, wcxb-dev 4245, a site's home page of
project teasers (``listing``); F1 fundus / wcxb-dev / trafilatura-eval 0.956 / 0.935 /
0.927 (0.956 / 0.937 / 0.927 before). ~1.6 ms a page: a declared article with paragraphs
is decided before its links are read.
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

from newsflow.tasks.enrich import registered_domain
from newsflow.tasks.page_metadata import ARTICLE_TYPES, PageMeta

MIN_STORY_WORDS = 30
MIN_DECLARED_WORDS = 12
SENTENCE_WORDS = 10  # a line this long reads as a sentence, punctuation or not
CARD_WORDS = 120
HEADLINE_WORDS = 3  # a link text this long is a headline, shorter is a menu entry
MIN_TEASERS = 3
TEASER_RATIO = 2.0
MIN_LINKS = 3
LINK_SHARE = 0.5  # links (or furniture) must make at least this share of a no-story text
SHORT_LINE_WORDS = 40  # furniture, notices and teaser headlines are short lines
MIN_SITE_LINKS = 10  # a page with fewer links and no text is not a site's page
NOTICE_MAX_WORDS = 60  # story words a removed/not-found/login page may still show
MAX_ANCHORS = 3000
# Words in paragraphs of 25+ words that make a declared article's page a story outright
DECLARED_STORY_WORDS = 150

LISTING_TYPES = frozenset({"collectionpage", "searchresultspage"})
KINDS = ("navigation", "related_links", "listing", "removed", "login", "boilerplate")

_WORD = re.compile(r"\w+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_BULLET = re.compile(r"^(?:[-*•·–>|]|\d{1,3}[.)])\s+")
_SENTENCE_END = (".", "!", "?", "…", '"', "”", "’", "»", ")", "。", "！", "？", ":", ";")
_FURNITURE = re.compile(
    r"\b(?:cookies?|privacy (?:policy|notice|settings)|terms (?:of (?:use|service)|and "
    r"conditions)|all rights reserved|copyright|newsletters?|sign (?:in|up)|log ?in|"
    r"subscribe|subscription|create an account|password|register|"
    r"datenschutz|impressum|mentions légales|aviso legal)\b|©",
    re.IGNORECASE,
)
_REMOVED = re.compile(
    r"\b(?:page|article|story|content|post|video|link|url)\b[^.!?\n]{0,50}?\b(?:is no longer "
    r"available|is not available|is unavailable|(?:has|have) (?:been )?(?:removed|deleted|"
    r"taken down|unpublished|expired)|(?:was|is|could|can)(?:n't| ?not) (?:be )?found|"
    r"(?:does not|doesn't|no longer) exists?|may have (?:moved|been (?:re)?moved|expired))|"
    r"page not found|error 404|404 error|\b404\b|no longer available|"
    r"(?:can(?:no|')t|couldn't|could not|unable to) find (?:that|this|the|your) (?:page|"
    r"article|story|content)|find what you(?:'re| are) looking for|"
    r"seite (?:wurde )?nicht gefunden|page (?:introuvable|non trouvée)|"
    r"página no encontrada|pagina non trovata|artikel (?:ist )?nicht (?:mehr )?verfügbar",
    re.IGNORECASE,
)
_LOGIN = re.compile(
    r"\b(?:sign ?in|log ?in|login|sign up|forgot (?:your )?password|remember me|"
    r"create (?:an|your) account|anmelden|einloggen|se connecter|connexion|"
    r"iniciar sesión|accedi)\b",
    re.IGNORECASE,
)
_RELATED = re.compile(
    r"^(?:related|more (?:stories|from|on|news)|most (?:read|popular|viewed)|popular|"
    r"trending|you (?:may|might) (?:also )?like|read (?:next|more)|recommended|top stories|"
    r"latest)",
    re.IGNORECASE,
)


def _size(line: str) -> int:
    """Words of a line; a CJK character counts as a word (those scripts use no spaces)."""
    return len(_WORD.findall(line)) + len(_CJK.findall(line))


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _is_sentence(line: str, size: int) -> bool:
    return size >= SENTENCE_WORDS or (size >= 4 and line.rstrip().endswith(_SENTENCE_END))


def declares_article(meta: PageMeta) -> bool:
    """og:type article, or a schema.org Article type and no listing type."""
    og = (meta.first("og:type") or "").lower()
    if og.startswith("article"):
        return True
    return bool(meta.types & ARTICLE_TYPES) and not meta.types & LISTING_TYPES


def _same_site(href: str, site: str | None) -> bool:
    """A link to another page of the site (teasers link there; share buttons do not)."""
    if not href or href.startswith(("#", "javascript:", "mailto:")):
        return False
    if not href.startswith(("http:", "https:", "//")):
        return True
    try:
        return registered_domain(href if href[0] != "/" else "https:" + href) == site
    except ValueError:
        return False


def _small(node: HtmlElement, sizes: dict[HtmlElement, bool]) -> bool:
    """Whether the block holds at most CARD_WORDS words (counting stops there)."""
    known = sizes.get(node)
    if known is None:
        count = 0
        for piece in node.itertext():
            count += len(piece.split())
            if count > CARD_WORDS:
                break
        known = sizes[node] = count <= CARD_WORDS
    return known


class _Anchors:
    """The page's link texts (normalized), and the teaser texts around headline links."""

    def __init__(self, tree: HtmlElement, url: str) -> None:
        self.texts: dict[str, int] = {}
        self._candidates: list[tuple[HtmlElement, str]] = []
        self._url = url
        for n, anchor in enumerate(tree.iter("a")):
            if n >= MAX_ANCHORS:
                break
            text = _norm(anchor.text_content())
            if not text:
                continue
            size = _size(text)
            self.texts[text] = size
            if size >= HEADLINE_WORDS:
                self._candidates.append((anchor, (anchor.get("href") or "").strip()))
        # headline-length link texts by their first word, for ``starts_with_headline``
        self._heads: dict[str, list[str]] = {}
        for text, size in self.texts.items():
            if size >= HEADLINE_WORDS:
                self._heads.setdefault(text.split(" ", 1)[0], []).append(text)

    @property
    def headline_count(self) -> int:
        return len(self._candidates)

    def cards(self) -> dict[str, int]:
        """Text of each paragraph in a teaser card -> the card's id. A card is the largest
        block around a headline link to the site that stays under CARD_WORDS words; its
        paragraphs that do not hold the link are the teaser."""
        site = registered_domain(self._url)
        found: dict[str, int] = {}
        sizes: dict[HtmlElement, bool] = {}  # also holds the elements: their id()s stay theirs
        for anchor, href in self._candidates:
            if not _same_site(href, site):
                continue
            card = None
            node = anchor.getparent()
            for _ in range(4):
                if node is None or node.tag in ("body", "html", "main"):
                    break
                if not _small(node, sizes):
                    break
                card, node = node, node.getparent()
            if card is None:
                continue
            holders = set(anchor.iterancestors())  # the blocks the link itself sits in
            for element in card.iter("p", "div", "span", "li"):
                if element in holders:
                    continue
                if any(True for _ in element.iterdescendants("a", "p", "div")):
                    continue
                text = _norm(element.text_content())
                if _size(text) >= 4:
                    found.setdefault(text, id(card))
        return found

    def starts_with_headline(self, line: str) -> bool:
        for head in self._heads.get(line.split(" ", 1)[0], ()):
            if len(head) < len(line) and line.startswith(head):
                return True
        return False


def _notice(pattern: re.Pattern[str], titles: list[str], lines: list[str]) -> int:
    """How many of the titles and lines match ``pattern``."""
    return sum(1 for t in [*titles, *lines] if pattern.search(t))


def no_story(
    tree: HtmlElement, url: str, text: str, meta: PageMeta, titles: list[str]
) -> str | None:
    """``kind: why`` if the page holds no story (the module docstring), else None.

    ``text`` is what extraction kept ("" if nothing). A page with no text that declares an
    article, or that has hardly any links (a body drawn by scripts), is left to the
    caller's fallbacks (the meta description, else ``empty_text``)."""
    declared = declares_article(meta)
    if declared and text:
        # the common case, decided without reading the links: an article with paragraphs
        long_words = sum(n for n in (_size(line) for line in text.split("\n")) if n >= 25)
        if long_words >= DECLARED_STORY_WORDS:
            return None
    anchors = _Anchors(tree, url)
    heads = [t for t in titles if t][:3]
    if not text.strip():
        if declared or (len(anchors.texts) < MIN_SITE_LINKS and not meta.types & LISTING_TYPES):
            return None
        if _notice(_REMOVED, heads, []):
            return "removed: the page says the article is removed or not found (no text)"
        if meta.types & LISTING_TYPES:
            return "listing: a schema.org collection page with no text"
        return f"navigation: no text but the page's {len(anchors.texts)} links"
    raw = [_BULLET.sub("", line.strip()) for line in text.split("\n")]
    lines = [line for line in raw if line]
    normed = [_norm(line) for line in lines]
    sizes = [_size(line) for line in lines]
    total = sum(sizes)
    linked = [i for i, n in enumerate(normed) if n in anchors.texts]
    linked_set = set(linked)
    # teasers make a listing only of a page that declares no article
    listing_possible = not declared and anchors.headline_count >= MIN_TEASERS
    cards = anchors.cards() if listing_possible else {}
    story = teaser = notice = furniture = other = 0
    units: set[int] = set()
    for i, (line, n, size) in enumerate(zip(lines, normed, sizes, strict=True)):
        short = size <= SHORT_LINE_WORDS  # a long line is text, whatever it mentions
        if i in linked_set:
            continue
        if short and (_REMOVED.search(line) or _LOGIN.search(line)):
            notice += size
        elif short and _FURNITURE.search(line):
            furniture += size
        elif not _is_sentence(line, size):
            other += size
        elif n in cards:
            teaser += size
            units.add(cards[n])
        elif short and listing_possible and anchors.starts_with_headline(n):
            teaser += size
            units.add(-i - 1)
        else:
            story += size
    if declared or len(units) < MIN_TEASERS:  # teasers of one card, or an article's parts
        story, teaser, units = story + teaser, 0, set()
    if declared:  # a declared article's list items and captions are its text too
        story += other
    enough = MIN_DECLARED_WORDS if declared else MIN_STORY_WORDS
    shown = f"{story} words of story text"
    if story < NOTICE_MAX_WORDS and _notice(_REMOVED, heads, lines[:6]):
        return f"removed: the page says the article is removed or not found ({shown})"
    if story < enough and meta.free is not False:
        # an article page may carry a sign-in form (a modal): it must also say so in text
        form = next(tree.iterfind('.//input[@type="password"]'), None) is not None
        if (form and not declared) or (notice and _notice(_LOGIN, heads, lines[:4])):
            return f"login: a sign-in page ({shown})"
    if len(units) >= MIN_TEASERS and teaser >= TEASER_RATIO * story and not declared:
        return f"listing: {len(units)} teasers of stories elsewhere ({shown})"
    if story >= enough:
        return None
    if (meta.types & LISTING_TYPES and not declared) or len(units) >= MIN_TEASERS:
        return f"listing: a section front or list of stories ({shown})"
    link_words = sum(sizes[i] for i in linked)
    if len(linked) >= MIN_LINKS and link_words >= LINK_SHARE * total:
        headline_like = link_words / len(linked) >= HEADLINE_WORDS or any(
            _RELATED.match(line) for line in lines
        )
        kind = "related_links" if headline_like else "navigation"
        return f"{kind}: {len(linked)} links make {link_words} of {total} words ({shown})"
    if furniture + notice >= LINK_SHARE * (total - link_words):
        return f"boilerplate: only page furniture ({furniture} of {total} words; {shown})"
    return None  # little text, but nothing says it is not the story
