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


def test_every_command_takes_db_and_the_interface_commands_exist() -> None:
    """The public interface: these commands exist and every command takes ``--db``."""
    from typing import Any

    import typer

    from newsflow.cli import app

    def leaves(group: Any, prefix: str = "") -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, command in group.commands.items():
            if hasattr(command, "commands"):  # a group of subcommands
                found.update(leaves(command, f"{prefix}{name} "))
            else:
                found[f"{prefix}{name}"] = command
        return found

    commands = leaves(typer.main.get_command(app))
    interface = {
        "ingest-seeds",
        "ingest-feeds",
        "ingest-urls",
        "backfill",
        "feeds import-opml",
        "serve",
        "sql",
        "search",
        "export",
        "status",
    }
    assert interface <= set(commands)
    without_db = [n for n, c in commands.items() if not any("--db" in p.opts for p in c.params)]
    assert without_db == []
