"""`python -m kanim` is the `kanim` command."""

from kanim.cli import app

app()
