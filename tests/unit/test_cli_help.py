"""Every command has help with an example (the CLI is how an office's IT staff meet kanim)."""

from __future__ import annotations

import typer.main
from typer.testing import CliRunner

from kanim.cli import app

runner = CliRunner()


def _commands(group, prefix: tuple[str, ...] = ()):  # noqa: ANN001, ANN202
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_command_has_help_with_an_example() -> None:
    root = typer.main.get_command(app)
    paths = list(_commands(root))
    assert len(paths) >= 15
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example:" in result.output, f"`kanim {' '.join(path)} --help` has no example"
