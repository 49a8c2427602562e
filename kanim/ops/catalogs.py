"""The console's gettext catalogs, kept in step with the code: `make catalogs` (or
`python -m kanim.ops.catalogs`) extracts every message of the console's templates and code and
adds the new ones to each language's .po file, keeping every translation already made.

English is the source language, so its catalog needs no translations; Indonesian must have one
for every message (tests/unit/test_catalogs.py fails on a missing one).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]  # the kanim package
LOCALE = ROOT / "locale"
LANGUAGES = ("id", "en")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
METHODS = [("web/console/**.py", "python"), ("web/public.py", "python"), ("web/track.py", "python"),
           ("web/status_page.py", "python"), ("web/routers/notify.py", "python"),  # the Telegram bot's answers
           ("web/templates/console/**.html", "jinja2"), ("web/templates/public/**.html", "jinja2")]
_JINJA = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
OPTIONS = {"web/templates/console/**.html": _JINJA, "web/templates/public/**.html": _JINJA}


def extract() -> Catalog:
    """Every message the console shows, with where it stands."""
    catalog = Catalog(project="kanim", domain="kanim")
    for filename, lineno, message, comments, context in extract_from_dir(
            ROOT, METHODS, keywords=KEYWORDS | {"gettext": (2,)}, options_map=OPTIONS, comment_tags=("Translators:",)):
        catalog.add(message, locations=[(f"kanim/{filename}", lineno)], auto_comments=comments, context=context)
    return catalog


def update() -> list[str]:
    """Bring every language's catalog up to the extracted messages; returns what was added."""
    template = extract()
    added = []
    for lang in LANGUAGES:
        path = LOCALE / lang / "LC_MESSAGES" / "kanim.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with open(path, "rb") as f:
                catalog = read_po(f, locale=lang)
        else:
            catalog = Catalog(locale=lang, project="kanim", domain="kanim")
        known = {m.id for m in catalog if m.id}
        catalog.update(template, no_fuzzy_matching=True)
        added += [f"{lang}: {m.id}" for m in catalog if m.id and m.id not in known]
        with open(path, "wb") as f:
            write_po(f, catalog, width=100, omit_header=False, sort_output=True, ignore_obsolete=True)
    return added


def main() -> int:
    added = update()
    for line in added:
        print(f"new message {line}")
    print(f"{len(added)} new messages; translate the Indonesian ones in {LOCALE}/id/LC_MESSAGES/kanim.po")
    return 0


if __name__ == "__main__":
    sys.exit(main())
