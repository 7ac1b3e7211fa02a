"""Extraction: a page's HTML (decoded, capped ``str``) -> the article in it.

Pure: ``extract(html, url)`` does no I/O, so it can be retried, cached, run in a worker
process and tested alone. trafilatura is never given bytes (it would decompress anything
gzip-like without a cap) and never run from several threads at once (lxml segfaults): call
it from worker processes only.

The page is parsed once; three candidates for the text come out of it:

1. trafilatura's main-text extraction (comments off, tables on; fast mode, then the full
   mode only where it may help: ``MODE`` and ``needs_full``, below),
2. the JSON-LD ``articleBody`` of the page's Article object,
3. the Open Graph / meta description (a one-paragraph summary).

**Text rule** (``choose_text`` and ``clean_lines``, measured by ``eval/evaluate.py``):
- JSON-LD ``articleBody`` wins when it has at least ``JSONLD_MIN_WORDS`` words, is at least
  ``JSONLD_MIN_RATIO`` times as long as trafilatura's text, and trafilatura's text holds
  less than ``JSONLD_COVERAGE`` of its 3-word shingles: the publisher's own body is then
  more complete than what the page layout let trafilatura find (bodies rendered by scripts,
  truncated extractions). Otherwise trafilatura's text wins: it keeps paragraph breaks,
  and bodies that are teasers, stale or partial copies are ignored.
- The description is used only when neither gives text, and then the page is marked
  ``not_article`` (a description alone is not an article).
- Lines that are not article text are dropped from trafilatura's text: a first line that
  repeats the headline (the headline is in ``title``), lines in capitals of 4+ words
  (cross-links to other stories), calls to action and furniture ("Click here", "Sign up",
  "Subscribe", "Our Standards:", "Advertisement", ...), and a closing author bio line
  ("X is a reporter for ... follow/email ...").

Metadata comes from the page's JSON-LD and Open Graph / ``<meta>`` tags, and the page date
also from htmldate's quick search: trafilatura's own metadata extraction is skipped, it
costs as much again as the text extraction (measured ~60 ms/page here).
Pages whose text is no story (menus, link lists, section fronts, "article removed" and
"page not found" notices, sign-in stubs, cookie banners and footers) are rejected as
``no_story`` (``tasks.story``), whichever mode produced the text.
Consent walls and bot challenges are recognized here and raised as ``BadInput`` with reason
``consent_wall`` / ``bot_challenge``: such a page is never returned as an article (the caller
keeps the feed summary instead, see ``tasks.articles.text_from_page``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from urllib.parse import urljoin, urlsplit

import trafilatura
from htmldate import find_date
from lxml.html import HtmlElement, fromstring
from trafilatura.utils import DOCTYPE_TAG, HTML_PARSER, load_html

from newsflow.tasks.errors import BadInput
from newsflow.tasks.page_metadata import ARTICLE_TYPES, NOT_ARTICLE_TYPES, PageMeta, page_meta
from newsflow.tasks.records import DateClaim
from newsflow.tasks.story import no_story

# trafilatura runs in fast mode first, and in its full mode (its fallback extractors,
# readability and justext, as well: ~1.25x the cost) again only when ``needs_full`` says they
# may change the result. MODE "full" or "fast" forces one mode (for measurements); the mode
# is part of EXTRACTOR_VERSION, stored on every row.
MODE = "selective"
# Full mode's justext rescue runs on any text under trafilatura's MIN_EXTRACTED_SIZE.
RERUN_MIN_CHARS = 250
# readability's text replaces trafilatura's when over twice as long: the page's own
# paragraphs must hold at least this many times the fast text for that to be possible.
RERUN_PARAGRAPH_RATIO = 3.0
# Lines this short on average are a list of links or teasers, not paragraphs: full mode's
# comparison then often finds the article (or drops the list).
RERUN_LINE_CHARS = 40
EXTRACTOR_VERSION = f"newsflow-extract-3+trafilatura-{version('trafilatura')}-{MODE}"
JSONLD_MIN_WORDS = 50
JSONLD_MIN_RATIO = 1.5
JSONLD_COVERAGE = 0.3
# A wall or challenge page is short; a real article with the same scripts is not.
WALL_MAX_WORDS = 150

_WORD = re.compile(r"\w+")
# Lower-case patterns, matched against the lower-cased page: ~7x faster than IGNORECASE
# over a page's 300 KB (28 ms a page, on every page whose text is short).
_CHALLENGE = re.compile(
    r"cf-browser-verification|cf_chl_opt|cf-challenge|<title>\s*just a moment\.\.\.|"
    r"attention required! \| cloudflare|checking your browser before accessing|"
    r"captcha-delivery\.com|px-captcha|press (?:&amp;|&) hold to confirm|_incapsula_resource|"
    r"awswaf|aws-waf-token|verify (?:that )?you are (?:a )?human|are you a robot\?|"
    r"unusual traffic from your computer network|enable javascript and cookies to continue"
)
_CONSENT_HOSTS = ("consent.", "guce.", "privacy.", "cmp.")
_CONSENT = re.compile(
    r"\b(?:cookies?|consent|your privacy|privacy settings|we value your privacy|"
    r"before you continue|manage (?:your )?(?:choices|preferences|options)|accept all|"
    r"reject all|zustimmung|einwilligung|datenschutzeinstellungen|"
    r"consentement|nous respectons votre vie privée|acepto|aceptar todas?)\b",
    re.IGNORECASE,
)
# A consent wall asks for consent before the page shows; a cookie banner beside the footer
# of a page with no story only informs (that page is ``no_story``, see tasks/story.py).
_CONSENT_ASK = re.compile(
    r"before you continue|we value your privacy|privacy choices|consent|to continue|"
    r"zustimm|einwilligung|consentement|nous respectons votre vie privée|acepto|aceptar",
    re.IGNORECASE,
)
_FURNITURE = re.compile(
    r"^(?:click here|subscribe|sign up|join our|our standards|want to bookmark|follow us|"
    r"download (?:the|our) app|get the .{1,30} app|read more|advertisement|related:|"
    r"recommended|share this|all rights reserved|copyright|©)",
    re.IGNORECASE,
)
_AUTHOR_BIO = re.compile(
    r"\b(?:is|was) an? (?:[\w-]+ ){0,4}(?:writer|reporter|correspondent|editor|journalist|"
    r"contributor)\b.*(?:@|twitter|email|follow)",
    re.IGNORECASE,
)
# What trafilatura's ``load_html`` strips or repairs before parsing: control characters and
# U+FFFE/U+FFFF (as UTF-8), a doctype with a slash, a self-closing <html/>.
_CTRL_BYTES = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20))
_NONCHARS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")
_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/-]?([01]\d)[/-]?([0-3]\d)(?:[/._-]|$)")


@dataclass(slots=True)
class Extracted:
    """What a page says about its article."""

    text: str
    title: str | None = None
    dates: list[DateClaim] = field(default_factory=list)
    canonical_url: str | None = None
    authors: list[str] = field(default_factory=list)
    site_name: str | None = None
    description: str | None = None
    image: str | None = None
    tags: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    extractor: str = EXTRACTOR_VERSION
    text_source: str = "trafilatura"  # trafilatura, jsonld or description
    access_status: str = "full"  # full, paywalled or not_article (walls raise instead)


def parse_date(value: str | None) -> datetime | None:
    """An ISO 8601 date or datetime (naive means UTC); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value[:10])
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def words(text: str | None) -> int:
    return len(_WORD.findall(text)) if text else 0


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    return set(zip(words, words[1:], words[2:], strict=False))


def choose_text(trafilatura_text: str | None, jsonld_body: str | None) -> tuple[str, str]:
    """The article text and where it came from, by the rule in the module docstring."""
    traf = trafilatura_text or ""
    body = jsonld_body or ""
    body_words = _WORD.findall(body.casefold())
    if len(body_words) < JSONLD_MIN_WORDS:  # most pages: no body, no need to split the text
        return traf, "trafilatura"
    traf_words = _WORD.findall(traf.casefold())
    if len(body_words) >= JSONLD_MIN_RATIO * len(traf_words):
        wanted = _shingles(body_words)
        covered = len(wanted & _shingles(traf_words)) / len(wanted) if wanted else 1.0
        if covered < JSONLD_COVERAGE:
            return body, "jsonld"
    return traf, "trafilatura"


def _is_caps(line: str) -> bool:
    return len(line) >= 15 and line.isupper() and len(line.split()) >= 4


def clean_lines(text: str, titles: list[str]) -> str:
    """trafilatura's text without the lines that are not article text (module docstring)."""
    lines = text.split("\n")
    if len(lines) > 1:
        first = _WORD.findall(lines[0].casefold())
        if len(first) >= 3 and any(
            _WORD.findall(t.casefold())[: len(first)] == first for t in titles if t
        ):
            lines = lines[1:]
    kept = [
        line
        for line in lines
        if not (_FURNITURE.match(line) or _is_caps(line) or _AUTHOR_BIO.search(line))
    ]
    return "\n".join(kept) if kept else text


def _wall(html: str, url: str, text: str, title: str | None) -> str | None:
    """``bot_challenge`` or ``consent_wall`` if the page is one, else None."""
    if len(text) > 30 * WALL_MAX_WORDS or words(text) >= WALL_MAX_WORDS:
        return None
    if _CHALLENGE.search(html[:300_000].lower()):  # challenge pages are small
        return "bot_challenge"
    host = urlsplit(url).hostname or ""
    if host.startswith(_CONSENT_HOSTS) or _CONSENT.search(title or ""):
        return "consent_wall"
    if _CONSENT.search(text) and _CONSENT_ASK.search(text):
        return "consent_wall"
    return None


def _dates(meta: PageMeta, tree: HtmlElement, url: str) -> list[DateClaim]:
    """Every date the page asserts, each with its source (reconciled in tasks.articles)."""
    raw: list[tuple[str, str | None, str]] = [
        ("published", meta.published, "jsonld"),
        ("modified", meta.modified, "jsonld"),
        (
            "published",
            meta.first("article:published_time", "og:published_time", "datepublished"),
            "meta",
        ),
        (
            "modified",
            meta.first("article:modified_time", "og:updated_time", "datemodified"),
            "meta",
        ),
    ]
    time_el = tree.find('.//time[@itemprop="datePublished"]')
    if time_el is None:
        time_el = tree.find(".//article//time[@datetime]")
    if time_el is not None:
        raw.append(("published", time_el.get("datetime") or time_el.get("content"), "time"))
    match = _URL_DATE.search(urlsplit(url).path)
    if match:
        raw.append(("published", "-".join(match.groups()), "url"))
    if not any(value for _, value, _ in raw):
        # htmldate's quick search (markup, then text patterns) when nothing else dates it.
        raw.append(("published", _htmldate(tree, url), "htmldate"))
    claims = []
    for kind, value, source in raw:
        parsed = parse_date(value)
        if parsed is not None:
            claims.append(DateClaim(kind, parsed, source))  # type: ignore[arg-type]
    return claims


def _htmldate(tree: HtmlElement, url: str) -> str | None:
    try:
        found = find_date(tree, url=url, original_date=True, extensive_search=False)
    except Exception:  # htmldate raises assorted errors on odd markup; a date is optional
        return None
    return found if isinstance(found, str) else None


def _title(tree: HtmlElement) -> list[str]:
    """Headline candidates from the markup: the first <h1>, then <title>."""
    found = []
    for path in (".//h1", ".//title"):
        element = tree.find(path)
        if element is not None:
            text = " ".join(element.text_content().split())
            if text:
                found.append(text)
    return found


def _absolute(base: str, value: str | None) -> str | None:
    if not value:
        return None
    try:
        return urljoin(base, value.strip())
    except ValueError:
        return None


def _split_authors(value: str | None) -> list[str]:
    return [a.strip() for a in (value or "").split(";") if a.strip()]


def parse_html(html: str) -> HtmlElement | None:
    """The tree trafilatura's ``load_html(html)`` builds, built faster. That function strips
    control characters with a regex over the whole page and has lxml parse the ``str``;
    here the page is checked for them in C and parsed as UTF-8 bytes (as ``load_html``
    itself does when the ``str`` parse fails): ~5 ms a page less on 150 KB pages. Its
    other repairs are the same; a page with characters to strip, or that does not parse
    cleanly, goes through ``load_html`` itself. tests/test_extract.py checks both trees
    are the same."""
    beginning = html[:50].lower()
    text = html
    if "doctype" in beginning:  # as trafilatura's repair_faulty_html
        first, _, rest = text.partition("\n")
        text = DOCTYPE_TAG.sub("", first, count=1) + "\n" + rest
    if any("<html" in line and line.endswith("/>") for line in text[:4096].splitlines()[:4]):
        return load_html(html)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return load_html(html)
    if len(data.translate(None, _CTRL_BYTES)) != len(data) or any(n in data for n in _NONCHARS):
        return load_html(html)
    try:
        tree = fromstring(data, parser=HTML_PARSER)
    except Exception:
        return load_html(html)
    if tree is None or len(tree) < 1:
        return load_html(html)
    if "html" not in beginning and len(tree) < 2:  # load_html's test for "not HTML at all"
        return None
    return tree


def _paragraph_chars(tree: HtmlElement, enough: float) -> int:
    """Characters of text in the page's <p> and <pre> elements (counting stops at ``enough``)."""
    total = 0
    for element in tree.iter("p", "pre"):
        total += len("".join(element.itertext()).strip())
        if total > enough:
            break
    return total


def needs_full(text: str, tree: HtmlElement) -> bool:
    """Whether trafilatura's full mode may improve on its fast-mode ``text`` of the page:
    short text (justext), text much shorter than the page's paragraphs (readability), or
    lines too short to be paragraphs. On the quality gate's 1,781 pages it picks 130 (7%);
    the full mode changes the text of 114, of which these catch 60, the ones where it
    helps most: F1 fundus / wcxb-dev / trafilatura-eval 0.956 / 0.937 / 0.927, against
    0.951 / 0.918 / 0.921 for fast mode alone and 0.956 / 0.939 / 0.927 for full mode on
    every page, at ~0.83x the CPU time of the latter (eval/evaluate.py)."""
    if len(text) < RERUN_MIN_CHARS:
        return True
    if len(text) < RERUN_LINE_CHARS * (text.count("\n") + 1):
        return True
    enough = RERUN_PARAGRAPH_RATIO * len(text)
    return _paragraph_chars(tree, enough) > enough


def _trafilatura(tree: HtmlElement, url: str) -> str:
    """trafilatura's main text of the page (``MODE``). bare_extraction copies the tree:
    ours stays intact for a second pass and for the metadata."""
    fast = MODE != "full"
    doc = trafilatura.bare_extraction(
        tree, url=url, fast=fast, include_comments=False, include_tables=True
    )
    text: str = getattr(doc, "text", None) or ""
    if MODE == "selective" and needs_full(text, tree):
        doc = trafilatura.bare_extraction(
            tree, url=url, fast=False, include_comments=False, include_tables=True
        )
        text = getattr(doc, "text", None) or ""
    return text


def extract(html: str, url: str) -> Extracted:
    """The main text and metadata of a page.

    ``BadInput``: ``empty_text`` if the page has no article text, ``no_story`` if its text
    is no story (``tasks.story``: the kind is the detail), ``bot_challenge`` or
    ``consent_wall`` if it is one (never returned as an article).
    """
    tree = parse_html(html)
    if tree is None:
        raise BadInput(url, "not an HTML document", reason="parse_error")
    meta = page_meta(tree)
    traf_text = _trafilatura(tree, url)
    markup_titles = _title(tree)
    og_title = meta.first("og:title", "twitter:title")
    titles = [t for t in (og_title, meta.headline, *markup_titles) if t]
    title = titles[0] if titles else None
    wall = _wall(html, url, traf_text, title)
    if wall is not None:
        raise BadInput(url, f"the page is a {wall.replace('_', ' ')}", reason=wall)
    traf_text = clean_lines(traf_text, titles) if traf_text else traf_text
    text, source = choose_text(traf_text, meta.body)
    if source == "trafilatura":  # a publisher's articleBody is a story
        kind = no_story(tree, url, text, meta, titles)
        if kind is not None:
            raise BadInput(url, kind, reason="no_story")
    description = meta.first("og:description", "description", "twitter:description")
    description = description or meta.description
    status = "full"
    if not text.strip():
        if not description:
            raise BadInput(url, "no article text found in the page", reason="empty_text")
        text, source, status = description, "description", "not_article"
    if meta.free is False:
        status = "paywalled"
    elif (meta.types & NOT_ARTICLE_TYPES and not meta.types & ARTICLE_TYPES) or (
        (meta.first("og:type") or "").lower().startswith(("product", "profile", "video."))
    ):
        status = "not_article"
    authors = meta.authors or [
        a
        for a in _split_authors(
            meta.first("author", "article:author", "parsely-author", "sailthru.author")
        )
        if not a.startswith("http")
    ]
    tags = meta.keywords or [t for t in meta.meta.get("article:tag", []) if t.strip()]
    tags = tags or [t.strip() for t in (meta.first("news_keywords") or "").split(",") if t.strip()]
    categories = meta.section or [s for s in meta.meta.get("article:section", []) if s.strip()]
    return Extracted(
        text=text,
        title=title,
        dates=_dates(meta, tree, url),
        canonical_url=_absolute(url, meta.first("canonical", "og:url")),
        authors=authors,
        site_name=meta.first("og:site_name", "application-name") or meta.publisher,
        description=description,
        image=_absolute(url, meta.first("og:image", "twitter:image") or meta.image),
        tags=tags,
        categories=categories,
        text_source=source,
        access_status=status,
    )
