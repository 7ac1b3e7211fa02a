"""Which sites the warehouse knows: the backfill's check that a site asked for is not a typo."""

from __future__ import annotations

import re
from pathlib import Path

from warehouse.db import connect_reader


def known_sites(db: Path, domains: list[str], *, wait: float) -> set[str]:
    """Those of ``domains`` (as ``articles.domain`` stores them) that have an article, or a
    failed page (a ``rejects`` URL on the site or a subdomain of it)."""
    if not domains or not db.exists():
        return set()
    con = connect_reader(db, wait=wait)
    try:
        rows = con.execute(
            "SELECT DISTINCT domain FROM articles WHERE domain IN (SELECT unnest(?::VARCHAR[]))",
            [domains],
        ).fetchall()
        found = {str(r[0]) for r in rows}
        for domain in domains:
            if domain in found:
                continue
            pattern = rf"^https?://([^/@]*\.)?{re.escape(domain)}(:\d+)?(/|$)"
            hit = con.execute(
                "SELECT 1 FROM rejects WHERE regexp_matches(source, ?) LIMIT 1", [pattern]
            ).fetchone()
            if hit:
                found.add(domain)
        return found
    finally:
        con.close()
