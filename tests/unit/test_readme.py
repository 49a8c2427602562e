"""The README says what the code does (datasette-style: its generated sections are checked here,
`make docs` rewrites them): who works which desk comes from kanim/security/roles.py, the command
list from the CLI, and the demo's Makefile variables are the ones the Makefile has."""

from __future__ import annotations

import re
from pathlib import Path

from kanim.ops import docs
from kanim.security.roles import GRANTS, Perm

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_desk_table_matches_roles_py() -> None:
    assert docs.section(README, "desks") == docs.desk_table(), "README's desk table is stale: run `make docs`"


def test_every_permission_is_at_exactly_one_desk_of_the_table() -> None:
    perms = [p for _, _, _, ps in docs.DESKS for p in ps]
    assert sorted(perms) == sorted(Perm) and len(perms) == len(set(perms))


def test_the_desk_table_names_the_roles_that_hold_each_permission() -> None:
    rows = [r for r in docs.desk_table().splitlines()[2:]]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        perm = Perm(cells[3].strip("`"))
        assert set(re.findall(r"`(\w+)`", cells[4])) == {r.value for r in GRANTS[perm]}


def test_every_cli_command_is_in_the_readme_command_list() -> None:
    listed = docs.section(README, "commands")
    assert listed == docs.command_table(), "README's command list is stale: run `make docs`"
    for usage, _ in docs.commands():
        assert f"| `{usage}` |" in listed


def test_the_readme_gives_the_demo_makefile_variables_and_urls() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for var, default in (("HOST", "127.0.0.1"), ("PORT", "8000"), ("CENTRAL_PORT", "8001"), ("DEMO_DIR", ".kanim-demo")):
        assert re.search(rf"^{var}\s*\?=\s*{re.escape(default)}$", makefile, re.M), var
        assert f"| `{var}` | `{default}` |" in README, var
    for url in ("http://127.0.0.1:8000", "http://127.0.0.1:8000/docs", "http://127.0.0.1:8001",
                "http://127.0.0.1:8001/docs"):
        assert url in README
    assert "make demo-reset" in README and re.search(r"^demo-reset:", makefile, re.M)
