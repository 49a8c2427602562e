"""The import rule of docs/protocol.md, read from the source (`ast`, nothing imported):

- kanim/protocol (and kanim/http, which it uses) imports nothing of either role, not even
  through another module;
- nothing on the office's side (kanim/office, kanim/link, kanim/store, kanim/bootstrap.py)
  reaches kanim/central;
- nothing of the central reaches the office's side, except its app's staff surface
  (kanim/central/api.py), which still borrows the office's web package for staff logins and
  the console: the exact modules are listed here and may only shrink.

Imports inside functions count as much as those at the top of a module.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

KANIM = Path(__file__).resolve().parents[2] / "kanim"
ROLES = ("kanim.office", "kanim.central", "kanim.link", "kanim.web", "kanim.store", "kanim.bootstrap")
OFFICE_SIDE = ("kanim.office", "kanim.link", "kanim.store", "kanim.bootstrap")
# The one schema history of both roles (docs/link.md, "Roles") needs every table's metadata.
SHARED_SCHEMA_HISTORY = "kanim.store.migrations"
# What the central's app still takes from the office's web package (docs/protocol.md, "What is
# not decoupled yet"): staff accounts, logins and the console are shared by both roles today.
CENTRAL_STAFF_SURFACE = {
    "kanim.central.api": {"kanim.web", "kanim.web.console", "kanim.web.console.routers", "kanim.web.contract",
                          "kanim.web.deps", "kanim.web.routers", "kanim.web.routers.auth", "kanim.web.schemas"},
}


def module_files() -> dict[str, Path]:
    found = {}
    for path in KANIM.rglob("*.py"):
        parts = list(path.relative_to(KANIM.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = module_files()


def within(name: str, packages: tuple[str, ...] | str) -> bool:
    packages = (packages,) if isinstance(packages, str) else packages
    return any(name == p or name.startswith(p + ".") for p in packages)


@cache
def imports(module: str) -> frozenset[str]:
    """The kanim modules `module` imports directly, with the packages each one opens."""
    named = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            named.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                         for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{module}: a relative import; kanim imports by absolute name")
    found = set()
    for name in named:
        if not within(name, "kanim"):
            continue
        while name not in MODULES and "." in name:
            name = name.rsplit(".", 1)[0]
        parts = name.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))  # importing a.b.c runs a and a.b
    return frozenset(found)


def reached(module: str) -> dict[str, str]:
    """Every kanim module that importing `module` runs, each with the module that imports it."""
    via: dict[str, str] = {}
    todo = [module]
    while todo:
        current = todo.pop()
        for name in imports(current) - via.keys():
            via[name] = current
            todo.append(name)
    return via


def chain(via: dict[str, str], start: str, end: str) -> str:
    path = [end]
    while path[-1] != start:
        path.append(via[path[-1]])
    return " → ".join(reversed(path))


def broken(starts: tuple[str, ...], forbidden: tuple[str, ...], *, transitive: bool = True,
           allowed: dict[str, set[str]] | None = None, skip: str | None = None) -> list[str]:
    found = []
    for module in sorted(m for m in MODULES if within(m, starts) and not (skip and within(m, skip))):
        if module in (allowed or {}):
            direct = imports(module) - allowed[module]
            found += [f"{module} → {name}" for name in sorted(direct) if within(name, forbidden)]
            continue
        via = reached(module) if transitive else {name: module for name in imports(module)}
        found += [chain(via, module, name) for name in sorted(via) if within(name, forbidden)
                  and not within(name, starts)]
    return found


def assert_kept(found: list[str]) -> None:
    more = f"\n(and {len(found) - 10} more)" if len(found) > 10 else ""
    assert not found, "the import rule of docs/protocol.md is broken:\n" + "\n".join(found[:10]) + more


def test_the_protocol_imports_nothing_of_either_role() -> None:
    assert "kanim.protocol" in MODULES
    assert_kept(broken(("kanim.protocol", "kanim.http"), ROLES))


def test_the_office_side_never_reaches_the_central() -> None:
    assert_kept(broken(OFFICE_SIDE, ("kanim.central",), skip=SHARED_SCHEMA_HISTORY))


def test_the_central_never_reaches_the_office_side_but_through_its_listed_staff_surface() -> None:
    forbidden = ("kanim.office", "kanim.link", "kanim.bootstrap", "kanim.web")
    assert_kept(broken(("kanim.central",), forbidden, allowed=CENTRAL_STAFF_SURFACE))


def test_the_listed_staff_surface_is_still_used_or_it_leaves_the_list() -> None:
    for module, listed in CENTRAL_STAFF_SURFACE.items():
        assert listed <= imports(module), f"{module} no longer imports {sorted(listed - imports(module))}: remove them"


def test_the_rule_sees_an_import_inside_a_function() -> None:
    assert "kanim.protocol.numbers" in imports("kanim.central.hub")  # imported inside _refuse_reused_number
