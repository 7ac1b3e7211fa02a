"""The backfill's request: the form's values validated, the modes, the checks that fail a
backfill at once with one sentence (a reversed or too long range, an unknown site), and the
report the run's artifact gives (the request, the sitemaps read, each day's counts)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newsflow.settings import Settings
from newsflow.tasks import revisions
from newsflow.tasks.normalize import is_http_url
from newsflow.warehouse.queries import known_sites

MAX_DAYS = 366


class BackfillMode(StrEnum):
    """What to redo for the articles of each day (in the order the form lists them)."""

    rededup = "rededup"
    reextract = "reextract"
    refetch = "refetch"
    sitemaps = "sitemaps"


Mode = Literal["rededup", "reextract", "refetch", "sitemaps"]

# One plain line per mode, as the form says it (the flow's docstring): artifact and errors.
MODE_HELP = {
    BackfillMode.rededup: "recompute duplicates, language and word counts from the stored text",
    BackfillMode.reextract: "extract the text again from each article's stored page",
    BackfillMode.refetch: "fetch again the pages that failed on those days, if still missing",
    BackfillMode.sitemaps: "fetch the articles that the sites' sitemaps date in those days",
}
# Modes whose stages this version has; the others fail clearly instead of pretending.
AVAILABLE_MODES = frozenset(BackfillMode)
_SITE = re.compile(r"^[\w-]+(\.[\w-]+)+$")


class BackfillRejected(ValueError):
    """A backfill that cannot run as asked; the message is one sentence saying why."""


class ModeNotAvailable(BackfillRejected):
    """The requested mode needs a stage this installation does not have."""

    def __init__(self, mode: BackfillMode) -> None:
        available = ", ".join(sorted(m.value for m in AVAILABLE_MODES))
        super().__init__(
            f"Backfill mode {mode.value!r} ({MODE_HELP[mode]}) is not available in this "
            f"version; available: {available}."
        )
        self.mode = mode


class BackfillRequest(BaseModel):
    """A backfill: which days, which articles, and what to redo for them (the form's fields,
    validated)."""

    model_config = ConfigDict(title="Backfill", extra="forbid", use_enum_values=False)

    since: date
    until: date | None = None
    domains: list[str] = Field(default_factory=list)
    feeds: list[str] = Field(default_factory=list)
    sitemaps: list[str] = Field(default_factory=list)
    mode: BackfillMode = BackfillMode.rededup

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        domains = sorted({revisions.normalize_domain(d) for d in value if d.strip()})
        bad = [d for d in domains if not _SITE.match(d)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a site name: write a domain such as bbc.co.uk")
        return domains

    @field_validator("feeds")
    @classmethod
    def _feeds(cls, value: list[str]) -> list[str]:
        return sorted({f.strip() for f in value if f.strip()})

    @field_validator("sitemaps")
    @classmethod
    def _sitemaps(cls, value: list[str]) -> list[str]:
        urls = list(dict.fromkeys(u.strip() for u in value if u.strip()))
        bad = [u for u in urls if not is_http_url(u)]
        if bad:
            raise ValueError(f"a sitemap must be an http(s) URL, got {bad[0]!r}")
        return urls

    @model_validator(mode="after")
    def _range(self) -> BackfillRequest:
        if self.feeds and self.mode is BackfillMode.refetch:
            raise ValueError("refetch selects failed URLs by site; feeds do not apply to it")
        if self.mode is BackfillMode.sitemaps:
            if self.feeds:
                raise ValueError("sitemaps reads sites' sitemaps; feeds do not apply to it")
            if not self.sitemaps and not self.domains:
                raise ValueError("mode sitemaps needs sitemap URLs or domains to read them from")
        elif self.sitemaps:
            raise ValueError("sitemap URLs apply only to mode sitemaps")
        last = self.until or self.since
        if last < self.since:
            raise ValueError(f"the last day ({last}) is before the first ({self.since})")
        days = (last - self.since).days + 1
        if days > MAX_DAYS:
            raise ValueError(
                f"a backfill covers at most {MAX_DAYS} days and {self.since} to {last} is "
                f"{days}: split the range"
            )
        return self

    @classmethod
    def checked(cls, **fields: Any) -> BackfillRequest:
        """The request, or ``BackfillRejected`` with the first problem as one sentence."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise BackfillRejected(problem_sentence(exc)) from None

    def days(self) -> list[date]:
        last = self.until or self.since
        return [self.since + timedelta(days=n) for n in range((last - self.since).days + 1)]

    def form(self) -> dict[str, Any]:
        """The request as the flow's (the form's) parameters."""
        return {
            "mode": self.mode.value,
            "first_day": self.since,
            "last_day": self.until,
            "sites": tuple(self.domains),
            "feeds": tuple(self.feeds),
            "sitemaps": tuple(self.sitemaps),
        }


def problem_sentence(error: ValidationError) -> str:
    """A validation error as one sentence: ``the last day ... is before ...`` -> ``The last
    day ... is before ....``"""
    first = error.errors()[0]
    text = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] != "value_error" and first.get("loc"):
        text = f"{first['loc'][0]}: {text}"
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def check_sites(request: BackfillRequest, settings: Settings) -> None:
    """Sites the warehouse has never seen fail the backfill at once (a typo, most likely),
    except for mode sitemaps, whose purpose is to bring in articles of any site."""
    if not request.domains or request.mode is BackfillMode.sitemaps:
        return
    known = known_sites(Path(settings.db), request.domains, wait=settings.lock_wait)
    unknown = [d for d in request.domains if d not in known]
    if unknown:
        raise BackfillRejected(
            f"The warehouse has no article or failed page from {', '.join(unknown)}: check "
            "the spelling of the site (as in articles.domain, e.g. bbc.co.uk)."
        )


def check_mode(mode: BackfillMode) -> None:
    if mode not in AVAILABLE_MODES:
        raise ModeNotAvailable(mode)


@dataclass
class DayReport:
    """What the run's artifact says about a backfill: the request, the sitemaps read, and
    each day's counts (columns by mode)."""

    request: BackfillRequest
    sitemaps: list[str] = field(default_factory=list)
    days: dict[date, dict[str, int]] = field(default_factory=dict)

    def add(self, day: date, counts: dict[str, int]) -> None:
        self.days[day] = {k.replace("_", " "): v for k, v in counts.items()}

    def markdown(self) -> list[str]:
        request, days = self.request, self.request.days()
        span = f"{days[0]}" if len(days) == 1 else f"{days[0]} to {days[-1]}"
        lines = [
            f"**Mode:** {request.mode.value} ({MODE_HELP[request.mode]})  ",
            f"**Days:** {span} ({len(days)} {'day' if len(days) == 1 else 'days'}, UTC)  ",
            f"**Sites:** {', '.join(request.domains) or 'all'}  ",
            f"**Feeds:** {', '.join(request.feeds) or 'all'}",
        ]
        if request.mode is BackfillMode.sitemaps:
            read = ", ".join(self.sitemaps) or "none"
            lines[-1] += "  "
            lines.append(f"**Sitemaps read:** {read}")
        if self.days:
            columns = list(next(iter(self.days.values())))
            lines += ["", "| day | " + " | ".join(columns) + " |"]
            lines.append("|---|" + "---:|" * len(columns))
            for day, counts in self.days.items():
                cells = " | ".join(str(counts.get(c, 0)) for c in columns)
                lines.append(f"| {day} | {cells} |")
        return [*lines, ""]
