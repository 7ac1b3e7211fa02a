"""What a page declares about itself: JSON-LD objects, Open Graph and ``<meta>`` tags.

Read from the lxml tree extraction parses anyway (never a second parse). Pure and tolerant:
malformed JSON-LD blocks are skipped, never raised.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lxml.html import HtmlElement

# schema.org types whose object describes the article itself.
ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "reviewnewsarticle",
        "backgroundnewsarticle",
        "askpublicnewsarticle",
        "blogposting",
        "liveblogposting",
        "socialmediaposting",
        "techarticle",
        "scholarlyarticle",
        "report",
        "satiricalarticle",
        "advertisercontentarticle",
    }
)
# Types that say the page is something other than an article.
NOT_ARTICLE_TYPES = frozenset(
    {
        "product",
        "collectionpage",
        "searchresultspage",
        "profilepage",
        "itemlist",
        "event",
        "jobposting",
        "recipe",
        "videoobject",
    }
)
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_TAG = re.compile(r"<[^>]{1,200}>")


@dataclass(slots=True)
class PageMeta:
    """The article-level facts of a page's structured data; every field optional."""

    body: str | None = None  # JSON-LD articleBody
    headline: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    modified: str | None = None
    free: bool | None = None  # JSON-LD isAccessibleForFree
    section: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    publisher: str | None = None
    image: str | None = None
    description: str | None = None
    types: set[str] = field(default_factory=set)  # every @type on the page, lower-case
    meta: dict[str, list[str]] = field(default_factory=dict)  # og:/article:/name= tags

    def first(self, *names: str) -> str | None:
        """The first non-empty value of the first of ``names`` the page has."""
        for name in names:
            for value in self.meta.get(name, ()):
                if value.strip():
                    return value.strip()
        return None


def _types(obj: dict[str, Any]) -> set[str]:
    raw = obj.get("@type")
    items = raw if isinstance(raw, list) else [raw]
    return {str(t).rsplit("/", 1)[-1].lower() for t in items if t}


def _walk(node: Any, out: list[dict[str, Any]], depth: int = 0) -> None:
    if depth > 6:
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, out, depth + 1)
    elif isinstance(node, dict):
        out.append(node)
        for key in ("@graph", "mainEntity", "mainEntityOfPage", "itemListElement"):
            if key in node:
                _walk(node[key], out, depth + 1)


def jsonld_objects(tree: HtmlElement) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for script in tree.iterfind('.//script[@type="application/ld+json"]'):
        raw = (script.text or "").strip()
        if not raw:
            continue
        try:
            data = json.loads(_CTRL.sub(" ", raw), strict=False)
        except ValueError:
            continue
        _walk(data, objects)
    return objects


def _names(value: Any) -> list[str]:
    """Person/organization names from a JSON-LD author-like value."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            names.append(item["name"])
    return [n.strip() for n in names if n and n.strip()]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return []


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str | dict)), None)
    if isinstance(value, dict):
        value = value.get("url") or value.get("name")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _free(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _meta_tags(tree: HtmlElement) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    for element in tree.iterfind(".//meta"):
        key = element.get("property") or element.get("name") or element.get("itemprop")
        content = element.get("content")
        if key and content:
            tags.setdefault(key.strip().lower(), []).append(content)
    for element in tree.iterfind(".//link[@rel]"):
        if element.get("rel", "").lower() == "canonical" and element.get("href"):
            tags.setdefault("canonical", []).append(element.get("href", ""))
    return tags


def page_meta(tree: HtmlElement) -> PageMeta:
    """Structured data of a page: the article's JSON-LD object and the meta tags."""
    meta = PageMeta(meta=_meta_tags(tree))
    objects = jsonld_objects(tree)
    articles = []
    for obj in objects:
        types = _types(obj)
        meta.types |= types
        if types & ARTICLE_TYPES:
            articles.append(obj)
    if not articles:
        return meta
    # The page's article is the one with the longest body (related-article teasers are short).
    best = max(
        articles,
        key=lambda o: (
            len(o.get("articleBody") or "") if isinstance(o.get("articleBody"), str) else -1
        ),
    )
    body = best.get("articleBody")
    if isinstance(body, str) and body.strip():
        meta.body = _TAG.sub(" ", body).strip()
    meta.headline = _text(best.get("headline")) or _text(best.get("name"))
    meta.authors = _names(best.get("author"))
    meta.published = _text(best.get("datePublished")) or _text(best.get("dateCreated"))
    meta.modified = _text(best.get("dateModified"))
    meta.free = _free(best.get("isAccessibleForFree"))
    if meta.free is None:  # also stated on the hasPart/WebPage objects
        for obj in objects:
            free = _free(obj.get("isAccessibleForFree"))
            if free is not None:
                meta.free = free
                break
    meta.section = _strings(best.get("articleSection"))
    meta.keywords = _strings(best.get("keywords"))
    meta.publisher = next(iter(_names(best.get("publisher"))), None)
    meta.image = _text(best.get("image"))
    meta.description = _text(best.get("description"))
    return meta
