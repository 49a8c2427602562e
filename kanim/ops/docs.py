"""The README's generated sections, so that they stay true: the table of who works which desk
(from kanim/security/roles.py) and the command list (from the CLI itself). `make docs`
rewrites them; tests/unit/test_readme.py fails when the README and the code disagree.

    python -m kanim.ops.docs README.md
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

from kanim.security.roles import GRANTS, Perm, Role

P = Perm
# (node, desk, what is done there, the permissions it takes). Every permission appears once.
DESKS: list[tuple[str, str, str, list[Perm]]] = [
    ("office", "front desk", "bookings, walk-ins, check-in, document scans, intake", [P.BOOK, P.CHECK_IN, P.INTAKE]),
    ("office", "cashier", "billing code, payment, receipt", [P.BILL]),
    ("office", "biometrics", "photo, fingerprints (and finger exceptions)", [P.CAPTURE]),
    ("office", "interview", "the interview notes", [P.INTERVIEW]),
    ("office", "adjudication", "approve or reject, holds", [P.ADJUDICATE]),
    ("office", "print room", "print the booklet, quality check", [P.PRINT]),
    ("office", "booklet stock", "receive booklets, the accountability report", [P.MANAGE_BOOKLETS]),
    ("office", "pickup desk", "handover to the holder (or family, attorney, post)", [P.HANDOVER]),
    ("office", "fees and holidays", "the fee table, the office's holidays", [P.MANAGE_FEES]),
    ("office", "watch-list snapshot", "load a snapshot by hand", [P.MANAGE_WATCHLIST]),
    ("office", "accounts", "staff accounts", [P.MANAGE_USERS]),
    ("office", "audit", "read the audit log", [P.VIEW_AUDIT]),
    ("office", "link", "link status, incidents, dead letters; retry one", [P.VIEW_LINK, P.MANAGE_LINK]),
    ("office", "notifications", "messages to applicants: queue, failures, history; switch rules",
     [P.VIEW_NOTIFY, P.MANAGE_NOTIFY]),
    ("office", "staged pickup", "open extra pickup service (a Saturday)", [P.MANAGE_PICKUP]),
    ("office", "complaints", "tickets from the counter, hotline, WhatsApp, SMS, email and LAPOR!: answer, assign, "
     "weekly report", [P.HANDLE_TICKETS]),
    ("office", "status page", "incidents, maintenance and service levels on the public /status", [P.MANAGE_STATUS]),
    ("office", "any desk", "read applications and biometrics; the office's settings",
     [P.VIEW_APPLICATION, P.VIEW_BIOMETRICS, P.VIEW_SETTINGS]),
    ("central", "watch-list", "enter and revoke watch-list orders", [P.MANAGE_CENTRAL_WATCHLIST]),
    ("central", "offices", "register offices, allocate booklets", [P.MANAGE_OFFICES]),
    ("central", "national view", "applications and payment issues of every office", [P.NATIONAL_VIEW]),
    ("central", "flags", "lift a flag after review; look at a registry face or finger (audited)",
     [P.LIFT_FLAG, P.VIEW_REGISTRY_BIOMETRICS]),
]


def desk_table() -> str:
    lines = ["| node | desk | what is done there | permission | roles (demo usernames) |",
             "| --- | --- | --- | --- | --- |"]
    for node, desk, what, perms in DESKS:
        for i, perm in enumerate(perms):
            roles = ", ".join(f"`{r.value}`" for r in Role if r in GRANTS[perm])
            first = i == 0
            lines.append(f"| {node if first else ''} | {desk if first else ''} | {what if first else ''} "
                         f"| `{perm.value}` | {roles} |")
    return "\n".join(lines)


def _commands(group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:  # noqa: ANN001
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def commands() -> list[tuple[str, object]]:
    """Every command as `kanim <path> ARGS`, with its click command."""
    import typer.main

    from kanim.cli import app

    root = typer.main.get_command(app)
    out = []
    for path, cmd in _commands(root):
        args = [p.name.upper() for p in cmd.params if p.param_type_name == "argument"]
        out.append((" ".join(["kanim", *path, *args]), cmd))
    return out


def command_table() -> str:
    lines = ["| command | what it does |", "| --- | --- |"]
    for usage, cmd in commands():
        first = re.split(r"\n\s*\n", (cmd.help or "").strip())[0]
        lines.append(f"| `{usage}` | {' '.join(first.split()).replace('|', '/')} |")
    return "\n".join(lines)


SECTIONS = {"desks": desk_table, "commands": command_table}


def section(text: str, name: str) -> str | None:
    m = re.search(rf"<!-- {name}:start[^>]*-->\n(.*?)<!-- {name}:end -->", text, re.S)
    return m.group(1).rstrip("\n") if m else None


def rewrite(text: str) -> str:
    for name, make in SECTIONS.items():
        if section(text, name) is None:
            raise SystemExit(f"README has no <!-- {name}:start --> … <!-- {name}:end --> section")
        text = re.sub(rf"(<!-- {name}:start[^>]*-->\n).*?(<!-- {name}:end -->)",
                      lambda m, body=make(): m.group(1) + body + "\n" + m.group(2), text, flags=re.S)
    return text


def main(argv: list[str]) -> None:
    path = Path(argv[0] if argv else "README.md")
    path.write_text(rewrite(path.read_text()))


if __name__ == "__main__":
    main(sys.argv[1:])
