"""The README documents what users type and set."""

from __future__ import annotations

from newsflow.settings import Settings

from .conftest import ROOT


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        f"NEWSFLOW_{name.upper()}"
        for name in Settings.model_fields
        if f"| `NEWSFLOW_{name.upper()}` |" not in readme
    ]
    assert missing == []


def test_the_two_commands_open_the_readme() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:8]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
