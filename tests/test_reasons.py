"""Every reject reason the code can emit is in ``tasks.errors.REASONS`` and in README.md.

The reasons are read from the source itself (its syntax tree), so a new ``reason="..."``,
``RejectRow(..., "reason", ...)`` or worker error tuple that is not documented fails here.
"""

from __future__ import annotations

import ast
import re

from newsflow.tasks.articles import WALLS
from newsflow.tasks.errors import REASONS, BadInput, FetchRefused, NewsflowError, TransientError

from .conftest import ROOT

PACKAGES = ("tasks", "flows", "newsflow", "warehouse", "deploy")
ERRORS = {c.__name__ for c in (NewsflowError, TransientError, FetchRefused, BadInput)}
ERRORS |= {"PermanentError"}


def _pattern(node: ast.expr) -> str | None:
    """A string constant, or an f-string as a pattern (``http_{status}`` -> ``http_<status>``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                assert isinstance(value, ast.FormattedValue)
                parts.append(f"<{ast.unparse(value.value).split('.')[-1]}>")
        return "".join(parts)
    return None


def _strings(node: ast.expr) -> list[str]:
    """Every reason a reason-valued expression can take (constants, both arms of an if)."""
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    found = _pattern(node)
    return [found] if found is not None else []


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def emitted() -> dict[str, set[str]]:
    """Reason -> the files that emit it; and, under ``"<unnamed>"``, raises without a reason."""
    found: dict[str, set[str]] = {}

    def add(reason: str, where: str) -> None:
        found.setdefault(reason, set()).add(where)

    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            tree = ast.parse(path.read_text(encoding="utf-8"))
            # an error class's default reason is never emitted: every raise names one
            defaults = {
                id(n) for c in ast.walk(tree) if isinstance(c, ast.ClassDef) for n in c.body
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    name = _name(node.func)
                    for kw in node.keywords:
                        if kw.arg == "reason":
                            for reason in _strings(kw.value):
                                add(reason, where)
                    if name == "RejectRow" and len(node.args) >= 3:
                        for reason in _strings(node.args[2]):
                            add(reason, where)
                    if name in ERRORS and not any(k.arg == "reason" for k in node.keywords):
                        add("<unnamed>", f"{where}:{node.lineno}")
                elif (
                    isinstance(node, ast.Assign)
                    and id(node) not in defaults
                    and any(isinstance(t, ast.Name) and t.id == "reason" for t in node.targets)
                ):
                    for reason in _strings(node.value):
                        add(reason, where)
                elif isinstance(node, ast.Tuple) and len(node.elts) == 2:
                    # a worker's ("error", (reason, detail)) result
                    first, second = node.elts
                    if (
                        isinstance(first, ast.Constant)
                        and first.value == "error"
                        and isinstance(second, ast.Tuple)
                        and second.elts
                    ):
                        for reason in _strings(second.elts[0]):
                            add(reason, where)
    return found


def test_the_scan_finds_reasons_of_every_kind() -> None:
    """The scanner itself sees each way a reason is written (else the next test proves nothing)."""
    found = emitted()
    for reason in ("robots", "robots_unavailable", "no_story", "http_<status>", "not_a_feed"):
        assert reason in found, reason
    assert "extract_crash" in found and "process_error" in found and "no_link" in found


def test_every_emitted_reason_is_registered_and_every_raise_names_one() -> None:
    found = emitted()
    assert found.pop("<unnamed>", set()) == set(), "raise these errors with reason=..."
    # reasons the code passes on as values: the walls come from extraction's _wall
    unknown = {r: sorted(w) for r, w in found.items() if r not in REASONS}
    assert unknown == {}
    assert set(WALLS) <= set(REASONS)
    stale = set(REASONS) - set(found) - set(WALLS)
    assert stale == set(), "registered reasons no code emits"


def test_readme_lists_every_reason() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Reject reasons", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_<>]+)` \|", section, re.MULTILINE))
    assert listed == set(REASONS)
