"""Every string the console shows is in the catalogs: Indonesian (the default) has a translation
for each, English one for each message that is a code (a stage, a role, ...); and every value
of the enumerations the console names has its words."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from kanim.domain.application import Priority, Stage
from kanim.domain.clearances import ClearanceKind, ClearanceState
from kanim.domain.contact import Channel
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.notify.purposes import Purpose, State
from kanim.notify.receipts import ReceiptStatus
from kanim.notify.transport import Outcome
from kanim.office.pickup_slots import PICKUP_STATES
from kanim.ops.catalogs import LOCALE, extract
from kanim.security.roles import Role
from kanim.web.console import vocabulary

CODE = re.compile(r"^[a-z_]+(:[a-z_A-Z]+)?$")


def catalog(lang: str):  # noqa: ANN201
    with open(LOCALE / lang / "LC_MESSAGES" / "kanim.po", "rb") as f:
        return read_po(f, locale=lang)


def test_every_message_of_the_console_is_in_each_catalog() -> None:
    wanted = {m.id for m in extract() if m.id}
    for lang in ("id", "en"):
        have = {m.id for m in catalog(lang) if m.id}
        assert not wanted - have, f"{lang}: run `make catalogs` and translate: {sorted(wanted - have)[:20]}"


def test_every_message_has_its_indonesian_words() -> None:
    missing = [m.id for m in catalog("id") if m.id and not m.string]
    assert not missing, f"untranslated in kanim/locale/id/LC_MESSAGES/kanim.po: {missing[:20]}"


def test_every_code_has_its_english_words() -> None:
    missing = [m.id for m in catalog("en") if m.id and CODE.match(str(m.id)) and not m.string]
    assert not missing, missing


def test_the_vocabulary_names_every_value_the_console_shows() -> None:
    listed = {w for words in vars(vocabulary).values() if isinstance(words, list) for w in words}
    values = ({s.value for s in Stage} | {r.value for r in Role} | {k.value for k in ApplicationType}
              | {k.value for k in PassportKind} | {f"sex:{s.value}" for s in Sex}
              | {f"priority:{p.value}" for p in Priority} | {k.value for k in ClearanceKind}
              | {s.value for s in ClearanceState})
    assert values <= listed, sorted(values - listed)


def test_the_vocabulary_names_every_value_of_the_messages_to_applicants() -> None:
    """The notifications desk writes a state's hyphen as an underscore, and a receipt's attempt
    (`receipt:delivered`) as `outcome:receipt_delivered`."""
    listed = {w for words in vars(vocabulary).values() if isinstance(words, list) for w in words}
    from kanim.web.console import pickup

    listed |= set(pickup.SLOT_STATES)
    values = ({f"purpose:{p.value}" for p in Purpose} | {f"message:{s.value.replace('-', '_')}" for s in State}
              | {f"channel:{c.value}" for c in Channel} | {f"outcome:{o.value}" for o in Outcome}
              | {"outcome:interrupted"} | {f"outcome:receipt_{r.value}" for r in ReceiptStatus}
              | {f"pickup:{s}" for s in PICKUP_STATES})
    assert values <= listed, sorted(values - listed)


def test_placeholders_are_kept_in_every_translation() -> None:
    for lang in ("id", "en"):
        for m in catalog(lang):
            if m.id and m.string:
                assert set(re.findall(r"%\(\w+\)s", str(m.id))) == set(re.findall(r"%\(\w+\)s", str(m.string))), m.id


def test_every_gettext_call_of_the_consoles_code_is_extracted() -> None:
    """Babel's extractor skips a call it cannot read (a generator expression among its
    arguments did): its message would then be in no catalog, and no test above would see it."""
    import ast

    from kanim.ops.catalogs import ROOT

    extracted = {m.id for m in extract() if m.id}
    missed = []
    for path in (ROOT / "web" / "console").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "gettext" and len(node.args) > 1 \
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value not in extracted:
                missed.append(f"{path.name}:{node.lineno}")
    assert not missed, f"write these messages so that `make catalogs` finds them: {missed}"
