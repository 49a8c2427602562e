"""The applicant message templates as files, what each one's text depends on, and its version.

A template is one (purpose, channel, language), its id `ready/sms/id`. Its files, relative to this
folder:

- `<purpose>/sms.<lang>.txt`: Jinja2; whitespace collapses to single spaces in the SMS;
- `<purpose>/whatsapp.<lang>.txt`: not Jinja: comment lines (`#`), a `params:` line naming the
  context values of `{{1}}`, `{{2}}`... in order, `---`, then the body exactly as approved with
  Meta (no variable at its start or end, none side by side: Meta's rules);
- `<purpose>/email.<lang>.txt` (first line `Subject: ...`, then the text part) and
  `<purpose>/email.<lang>.html`, which extends `_layout/email.<lang>.html`; the text part is
  also the Telegram message (the subject its first line, no email unsubscribe link);
- `words.<lang>.json`: the words for document keys and hold reasons, used by every channel.

`versions.json` records each template's version and the sha256 of its sources (its own files,
everything they extend, include or import, and the language's words), so that a changed source
cannot keep an old version: tests/unit/test_notify_render.py fails until
`python -m kanim.notify.render --bump` gives it the next one. The version is stored with every
message, and a WhatsApp template's name carries it (`kanim_ready_v2`): Meta's approved templates
cannot change, so a new version is a new template to submit for approval before it is deployed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, meta, select_autoescape

from kanim.domain.contact import Channel
from kanim.notify.purposes import Purpose

TEMPLATES = Path(__file__).resolve().parent
MANIFEST = TEMPLATES / "versions.json"
LANGUAGES = ("id", "en")  # Indonesian first: the default


def template_id(purpose: Purpose, channel: Channel, lang: str) -> str:
    return f"{Purpose(purpose).value}/{Channel(channel).value}/{lang}"


def every_template() -> list[tuple[Purpose, Channel, str]]:
    return [(p, c, lang) for p in Purpose for c in Channel for lang in LANGUAGES]


def own_files(purpose: Purpose, channel: Channel, lang: str) -> tuple[str, ...]:
    if channel is Channel.TELEGRAM:
        # A chat has room for the whole text: Telegram carries the email's text part (its
        # subject as the first line), so the two cannot drift apart. Its own version still.
        return (f"{Purpose(purpose).value}/email.{lang}.txt",)
    stem = f"{Purpose(purpose).value}/{Channel(channel).value}.{lang}"
    return (f"{stem}.txt", f"{stem}.html") if channel is Channel.EMAIL else (f"{stem}.txt",)


@cache
def environment() -> Environment:
    """StrictUndefined: a name the context lacks fails the render instead of leaving a blank."""
    return Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                       autoescape=select_autoescape(["html"], default_for_string=False),
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


@cache
def words(lang: str) -> dict[str, Any]:
    """{"documents": {key: words}, "reasons": {code: words}, "more": "dll."}"""
    return json.loads((TEMPLATES / f"words.{lang}.json").read_text(encoding="utf-8"))


# -- sources and versions -----------------------------------------------------------------------

def _referenced(name: str) -> set[str]:
    """`name` and what it extends, includes or imports, all the way down."""
    found, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        if "/whatsapp." not in current:  # a WhatsApp body is Meta's text, not Jinja
            source = (TEMPLATES / current).read_text(encoding="utf-8")
            todo += [ref for ref in meta.find_referenced_templates(environment().parse(source)) if ref]
    return found


def sources(purpose: Purpose, channel: Channel, lang: str) -> tuple[str, ...]:
    """Every file whose change changes what this template says."""
    files = {f"words.{lang}.json"}
    for name in own_files(purpose, channel, lang):
        files |= _referenced(name)
    return tuple(sorted(files))


def source_hash(purpose: Purpose, channel: Channel, lang: str) -> str:
    digest = hashlib.sha256()
    for name in sources(purpose, channel, lang):
        digest.update(name.encode() + b"\0" + (TEMPLATES / name).read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def manifest() -> dict[str, dict[str, object]]:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def version_of(purpose: Purpose, channel: Channel, lang: str) -> int:
    tid = template_id(purpose, channel, lang)
    if tid not in manifest():
        raise LookupError(f"{tid} has no version in {MANIFEST}: run python -m kanim.notify.render --bump")
    return int(manifest()[tid]["version"])  # type: ignore[call-overload]


def whatsapp_name(purpose: Purpose, version: int) -> str:
    """The name the template is approved under at Meta; a new version is a new name."""
    return f"kanim_{Purpose(purpose).value}_v{version}"


def stale() -> list[str]:
    """Template ids whose sources no longer match the manifest's hash (or that it lacks)."""
    known = manifest()
    return [template_id(*t) for t in every_template()
            if known.get(template_id(*t), {}).get("sha256") != source_hash(*t)]


def bump(force: Iterable[str] = (), manifest_path: Path | None = None) -> list[str]:
    """Give each changed template, and each id in `force`, its next version and its new hash;
    returns what changed ("ready/sms/id -> v2"). Templates no longer in the tree are dropped."""
    path = manifest_path or MANIFEST
    current = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    ids = {template_id(*t): t for t in every_template()}
    if unknown := sorted(set(force) - set(ids)):
        raise ValueError(f"no such template: {', '.join(unknown)}")
    changed = []
    for tid, t in ids.items():
        entry, digest = current.get(tid), source_hash(*t)
        if entry is None or entry["sha256"] != digest or tid in force:
            current[tid] = {"version": int(entry["version"]) + 1 if entry else 1, "sha256": digest}
            changed.append(f"{tid} -> v{current[tid]['version']}")
    kept = {tid: current[tid] for tid in sorted(ids)}
    path.write_text(json.dumps(kept, indent=2) + "\n", encoding="utf-8")
    manifest.cache_clear()
    return changed


# -- WhatsApp bodies ----------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")


@dataclass(frozen=True)
class WhatsAppBody:
    params: tuple[str, ...]  # the context's names for {{1}}, {{2}}...
    body: str  # as approved with Meta


@cache
def whatsapp_body(purpose: Purpose, lang: str) -> WhatsAppBody:
    text = (TEMPLATES / own_files(purpose, Channel.WHATSAPP, lang)[0]).read_text(encoding="utf-8")
    head, separator, body = text.partition("\n---\n")
    names = [line.removeprefix("params:") for line in head.splitlines() if line.startswith("params:")]
    if not separator or len(names) != 1:
        raise ValueError(f"{purpose.value}/whatsapp.{lang}.txt needs one 'params:' line, then '---', then the body")
    return WhatsAppBody(tuple(n.strip() for n in names[0].split(",") if n.strip()), body.strip())
