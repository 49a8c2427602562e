"""Messages to applicants from versioned templates (kanim/notify/render.py and its templates)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import pytest
from jinja2 import meta

from kanim.domain.clearances import ClearanceKind
from kanim.domain.contact import Channel
from kanim.domain.errors import InvalidInput
from kanim.notify import gsm, render
from kanim.notify import templates as versions
from kanim.notify.purposes import Purpose
from kanim.notify.render import (CHECKS, COMMON, NEEDS, OPTIONAL, REPLY_WORDS, SMS_LINK_BUDGET, MessageTooLong,
                                 Rendered, sample_params, short_office_name)

EVERY = versions.every_template()
ids = [versions.template_id(*t) for t in EVERY]
LONG_OFFICE = "Kantor Imigrasi Kelas I Khusus Non TPI Jakarta Selatan Raya"  # 60 characters
URL = re.compile(r"https?://\S+")
PICKUP_PURPOSES = (Purpose.READY, Purpose.RESCHEDULED, Purpose.NO_SHOW)


def rendered(purpose: Purpose, channel: Channel, lang: str, **changes: object) -> Rendered:
    return render.render(purpose, channel, lang, sample_params(purpose, lang) | changes)


def longest(purpose: Purpose, lang: str) -> dict[str, object]:
    """Every input at the bound an SMS allows, on the day with the longest name in both languages."""
    params = sample_params(purpose, lang) | {
        "office_name": LONG_OFFICE, "first_name": "Muhammadiyahsah", "number": "ABCDEFGH-20261230-0042",
        "office_phone": "(0431) 555 0123 ext. 1234"}
    for key in ("day", "pickup_day"):
        if key in params:
            params[key] = date(2026, 9, 30)  # Rabu/Wednesday, 30 September
    for key in ("confirm_url", "change_url"):
        if key in params:
            params[key] = "https://kanim.example.go.id/k/" + "x" * (SMS_LINK_BUDGET - 30)
    if "what_to_bring" in params:
        params["what_to_bring"] = ["ktp", "kk", "marriage_certificate", "old_passport", "name_change_decree"]
    if "reason_code" in params:
        params["reason_code"] = "payment"
    return params


# -- every template -----------------------------------------------------------------------------

@pytest.mark.parametrize(("purpose", "channel", "lang"), EVERY, ids=ids)
def test_every_template_renders_from_its_sample_data(purpose: Purpose, channel: Channel, lang: str) -> None:
    message = render.preview(purpose, channel, lang)
    assert (message.purpose, message.channel, message.language) == (purpose, channel, lang)
    assert message.template == f"{purpose.value}/{channel.value}/{lang}"
    assert message.version == versions.manifest()[message.template]["version"] >= 1
    assert message.text.strip() and "{{" not in message.text and "None" not in message.text
    assert (message.subject is not None, message.html is not None) == (channel is Channel.EMAIL,) * 2
    assert (message.whatsapp_template is not None) == (channel is Channel.WHATSAPP)


@pytest.mark.parametrize(("purpose", "channel", "lang"), EVERY, ids=ids)
def test_every_message_names_the_office_the_application_and_the_first_name(purpose: Purpose, channel: Channel,
                                                                           lang: str) -> None:
    message = render.preview(purpose, channel, lang)
    params = sample_params(purpose, lang)
    assert params["office_name"] in message.text
    if not purpose.about_an_application:  # a status-page subscriber: no application, no name
        assert "number" not in params and "first_name" not in params
        return
    assert params["number"] in message.text and str(params["first_name"]) in message.text


@pytest.mark.parametrize(("purpose", "channel", "lang"), EVERY, ids=ids)
def test_every_message_says_the_office_never_asks_for_payment_by_link(purpose: Purpose, channel: Channel,
                                                                      lang: str) -> None:
    text = render.preview(purpose, channel, lang).text
    assert re.search(r"tidak pernah meminta pembayaran" if lang == "id" else r"never asks? for payment by link", text)


def test_the_manifest_has_every_template_at_its_current_sources() -> None:
    changed = versions.stale()
    assert not changed, (f"these templates changed without a new version: {changed}. Bump them with "
                         "`python -m kanim.notify.render --bump` (it records the new sha256 in "
                         "kanim/notify/templates/versions.json), and submit new WhatsApp names to Meta")
    assert set(versions.manifest()) == set(ids)


def test_a_source_changed_without_a_bump_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    altered = json.loads(versions.MANIFEST.read_text()) | {"ready/sms/id": {"version": 3, "sha256": "0" * 64}}
    monkeypatch.setattr(versions, "manifest", lambda: altered)
    assert versions.stale() == ["ready/sms/id"]


def test_a_bump_gives_a_changed_template_its_next_version_and_new_hash(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "versions.json"
    current = json.loads(versions.MANIFEST.read_text())
    path.write_text(json.dumps(current | {"ready/sms/id": {"version": 3, "sha256": "0" * 64}}))
    assert versions.bump(manifest_path=path) == ["ready/sms/id -> v4"]
    assert json.loads(path.read_text())["ready/sms/id"] == {"version": 4, "sha256": versions.source_hash(
        Purpose.READY, Channel.SMS, "id")}
    assert versions.bump(["ready/email/en"], manifest_path=path) == [
        f"ready/email/en -> v{current['ready/email/en']['version'] + 1}"]
    with pytest.raises(ValueError, match="no such template"):
        versions.bump(["ready/fax/id"], manifest_path=path)


def test_a_templates_sources_include_its_layouts_and_its_languages_words() -> None:
    assert versions.sources(Purpose.READY, Channel.EMAIL, "id") == (
        "_layout/email.id.html", "_layout/email_links.id.html", "_layout/email_links.id.txt",
        "_layout/footer.id.txt", "_layout/handover.id.txt", "ready/email.id.html", "ready/email.id.txt",
        "words.id.json")
    assert versions.sources(Purpose.READY, Channel.WHATSAPP, "en") == ("ready/whatsapp.en.txt", "words.en.json")


def test_the_consoles_list_has_every_template_with_its_version() -> None:
    infos = render.templates()
    assert [i.template for i in infos] == ids
    whatsapp = {i.template: i.whatsapp_template for i in infos if i.channel is Channel.WHATSAPP}
    assert len(whatsapp) == 2 * len(Purpose)
    assert whatsapp["ready/whatsapp/id"] == f"kanim_ready_v{versions.manifest()['ready/whatsapp/id']['version']}"


# -- the languages ------------------------------------------------------------------------------

ENGLISH_WORDS = re.compile(r"\b(your|the|passport|please|dear)\b", re.IGNORECASE)
INDONESIAN_WORDS = re.compile(r"\b(Anda|paspor|permohonan|kami|mohon|Yth)\b")


def visible(html: str | None) -> str | None:
    return html and re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize(("purpose", "channel"), [(p, c) for p in Purpose for c in Channel])
def test_indonesian_messages_are_indonesian_and_polite(purpose: Purpose, channel: Channel) -> None:
    message = render.preview(purpose, channel, "id")
    for text in filter(None, (message.text, message.subject, visible(message.html))):
        assert not ENGLISH_WORDS.search(text), ENGLISH_WORDS.search(text)
    if not purpose.about_an_application:  # to a subscriber: greets nobody by name
        assert INDONESIAN_WORDS.search(message.text) or "layanan" in message.text
        return
    body = _after_subject(message)
    assert body.startswith("Yth. Siti," if channel is Channel.SMS else "Yth. Bapak/Ibu Siti,")
    assert INDONESIAN_WORDS.search(body.split(",", 1)[1])


def _after_subject(message: render.Rendered) -> str:
    """A Telegram message opens with its subject line, then greets like the email."""
    if message.channel is Channel.TELEGRAM:
        subject, _, body = message.text.partition("\n\n")
        assert subject == render.preview(message.purpose, Channel.EMAIL, message.language).subject
        return body
    return message.text


@pytest.mark.parametrize(("purpose", "channel"), [(p, c) for p in Purpose for c in Channel])
def test_english_messages_are_english(purpose: Purpose, channel: Channel) -> None:
    message = render.preview(purpose, channel, "en")
    for text in filter(None, (message.text, message.subject, visible(message.html))):
        assert not INDONESIAN_WORDS.search(text), INDONESIAN_WORDS.search(text)
    assert _after_subject(message).startswith("Dear Daniel,") or not purpose.about_an_application


def test_both_languages_have_words_for_the_same_keys() -> None:
    id_words, en_words = versions.words("id"), versions.words("en")
    assert set(id_words) == set(en_words)
    for part in ("documents", "reasons"):
        assert set(id_words[part]) == set(en_words[part])


def test_the_formats_are_the_consoles() -> None:
    from kanim.web.console import render as console

    assert render.BABEL_LOCALES == console.BABEL_LOCALES
    assert render.money(650_000, "id") == console.money(650_000, "id") == "Rp650.000"
    assert render.money(650_000, "en") == console.money(650_000, "en") == "Rp650,000"
    assert render.long_date(date(2026, 12, 1), "id") == console.long_date(date(2026, 12, 1), "id") == "1 Desember 2026"
    at = datetime.fromisoformat("2026-12-01T00:30+00:00")
    assert render.clock_time(at, "en", "Asia/Makassar") == console.clock_time(at, "en", "Asia/Makassar") == "08:30 WITA"


def test_money_dates_and_times_are_written_in_the_applicants_language() -> None:
    billing_id = rendered(Purpose.BILLING_ISSUED, Channel.SMS, "id").text
    billing_en = rendered(Purpose.BILLING_ISSUED, Channel.EMAIL, "en").text
    assert "Rp650.000" in billing_id and "1 Desember 2026, 10:30 WITA" in billing_id
    assert "Rp650,000" in billing_en and "1 December 2026, 10:30 WITA" in billing_en
    booking_id = rendered(Purpose.BOOKING_CONFIRMED, Channel.WHATSAPP, "id")
    assert "Selasa, 1 Desember 2026" in booking_id.whatsapp_params and "08:30 WITA" in booking_id.whatsapp_params
    booking_en = rendered(Purpose.BOOKING_CONFIRMED, Channel.EMAIL, "en", timezone="Asia/Jakarta")
    assert "Tuesday, 1 December 2026, at 08:30 WIB" in booking_en.text


# -- SMS ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("purpose", "lang"), [(p, lang) for p in Purpose for lang in ("id", "en")])
def test_every_sms_fits_two_gsm7_segments_even_with_every_input_at_its_longest(purpose: Purpose, lang: str) -> None:
    sample = render.preview(purpose, Channel.SMS, lang)
    assert gsm.count(sample.text).encoding == gsm.GSM7 and sample.segments <= 2
    message = render.render(purpose, Channel.SMS, lang, longest(purpose, lang))
    assert gsm.is_gsm7(message.text)
    assert message.segments == gsm.segments(message.text) <= 2, message.text


def test_a_long_office_name_is_shortened_for_an_sms_as_people_say_it() -> None:
    assert short_office_name("Kantor Imigrasi Kelas I TPI Manado") == "Kantor Imigrasi Kelas I TPI Manado"
    assert short_office_name(LONG_OFFICE) == "Kanim Kelas I Khusus Non TPI Jakarta..."
    assert short_office_name("Kantor Imigrasi Kelas I Tempat Pemeriksaan Imigrasi Manado") == "Kanim Kelas I TPI Manado"
    message = rendered(Purpose.READY, Channel.SMS, "id", office_name=LONG_OFFICE)
    assert "Kanim Kelas I Khusus Non TPI Jakarta..." in message.text


def test_an_sms_over_two_segments_raises_so_that_the_worker_falls_back() -> None:
    # A name in another script sends the whole SMS as UCS-2: 67 characters a part.
    with pytest.raises(MessageTooLong, match="ready/sms/id renders to [3-9] SMS segments") as caught:
        rendered(Purpose.READY, Channel.SMS, "id", first_name="李小龍")
    assert caught.value.code == "sms-too-long" and caught.value.extra["template"] == "ready/sms/id"


def test_typographic_characters_in_an_input_do_not_make_an_sms_ucs2() -> None:
    message = rendered(Purpose.ON_HOLD, Channel.SMS, "id", first_name="Nu\u2019man",
                       office_phone="0431\u2013555\u00a00123")
    assert "Yth. Nu'man," in message.text and "0431-555 0123" in message.text
    assert gsm.count(message.text).encoding == gsm.GSM7


def test_a_long_document_list_is_cut_with_etc_in_an_sms_and_kept_whole_in_an_email() -> None:
    many = ["ktp", "kk", "birth_certificate", "marriage_certificate", "diploma", "old_passport", "name_change_decree"]
    sms = rendered(Purpose.BOOKING_CONFIRMED, Channel.SMS, "id", what_to_bring=many).text
    assert "dll." in sms and "dll.." not in sms and "ijazah" not in sms
    email = rendered(Purpose.BOOKING_CONFIRMED, Channel.EMAIL, "id", what_to_bring=many).text
    assert "- ijazah\n- paspor lama\n- penetapan pengadilan tentang ganti nama" in email


def test_without_links_an_sms_tells_the_applicant_to_call() -> None:
    message = rendered(Purpose.READY, Channel.SMS, "en", confirm_url=None, change_url=None)
    assert "For another slot call (0431) 555 0123." in message.text and not URL.search(message.text)


# -- WhatsApp -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("purpose", "lang"), [(p, lang) for p in Purpose for lang in ("id", "en")])
def test_a_whatsapp_body_follows_metas_rules_for_templates(purpose: Purpose, lang: str) -> None:
    approved = versions.whatsapp_body(purpose, lang)
    numbers = [int(n) for n in versions.PLACEHOLDER.findall(approved.body)]
    assert sorted(set(numbers)) == list(range(1, len(approved.params) + 1)), "{{1}}.. must name every param"
    assert numbers[:len(set(numbers))] == sorted(set(numbers)), "placeholders appear in order"
    assert not approved.body.startswith("{{") and not approved.body.endswith("}}")
    assert not re.search(r"\}\}\s*\{\{", approved.body), "no two variables side by side"
    assert set(approved.params) <= set(render.context(purpose, Channel.WHATSAPP, lang, render.check_params(
        purpose, sample_params(purpose, lang))))
    message = render.render(purpose, Channel.WHATSAPP, lang, longest(purpose, lang))
    assert len(message.text) <= 1024  # the Cloud API's limit for a template's body
    assert message.whatsapp_template == f"kanim_{purpose.value}_v{message.version}"
    assert message.whatsapp_language == lang


def test_whatsapp_parameters_hold_no_newline_tab_or_run_of_spaces() -> None:
    message = rendered(Purpose.ON_HOLD, Channel.WHATSAPP, "id", first_name="Siti\n\tAnn",
                       office_phone="(0431)      555\n0123")
    assert message.whatsapp_params[0] == "Siti Ann" and message.whatsapp_params[4] == "(0431) 555 0123"
    for param in message.whatsapp_params:
        assert not re.search(r"[\n\t]| {5,}", param)


def test_the_whatsapp_text_is_the_approved_body_with_its_parameters() -> None:
    message = rendered(Purpose.READY, Channel.WHATSAPP, "en")
    assert message.whatsapp_params == ("Daniel", "MDO-20261201-0042", "Kantor Imigrasi Kelas I TPI Manado",
                                       "Friday, 4 December 2026", "10:00 WITA")
    assert "Your pickup slot: Friday, 4 December 2026 at 10:00 WITA." in message.text


@pytest.mark.parametrize("lang", ["id", "en"])
def test_a_whatsapp_pickup_message_says_the_reply_words(lang: str) -> None:
    for purpose in PICKUP_PURPOSES:
        body = versions.whatsapp_body(purpose, lang).body
        assert all(f" {word} " in body for word in REPLY_WORDS[lang].values()), purpose
    assert f" {REPLY_WORDS[lang]['change']} " in versions.whatsapp_body(Purpose.PICKUP_REMINDER, lang).body


# -- links, escaping and what a message must never hold -----------------------------------------

@pytest.mark.parametrize(("purpose", "channel", "lang"), EVERY, ids=ids)
def test_a_message_links_only_to_the_links_passed_in(purpose: Purpose, channel: Channel, lang: str) -> None:
    params = sample_params(purpose, lang)
    passed = {params.get(key) for key in OPTIONAL} - {None}
    message = render.preview(purpose, channel, lang)
    assert set(URL.findall(message.text)) <= passed
    if channel is Channel.WHATSAPP:
        assert not URL.search(message.text) and not any(URL.search(p) for p in message.whatsapp_params)
    if message.html:
        assert set(re.findall(r'href="([^"]*)"', message.html)) <= passed
        assert "src=" not in message.html and len(URL.findall(message.html)) == message.html.count("href=")
    bare = render.render(purpose, channel, lang, {k: v for k, v in params.items() if k not in OPTIONAL})
    assert not URL.search(bare.text + (bare.html or ""))


def test_a_first_name_is_escaped_in_html_and_kept_as_typed_in_text() -> None:
    message = rendered(Purpose.READY, Channel.EMAIL, "en", first_name="<b>&")
    assert "Dear &lt;b&gt;&amp;," in message.html and "<b>&" not in message.html
    assert message.text.startswith("Dear <b>&,")


def test_no_template_can_name_a_nik_or_a_full_name() -> None:
    forbidden = {"nik", "full_name", "name", "holder_name", "birth_date"}
    assert not forbidden & set(CHECKS)
    env = versions.environment()
    for purpose, channel, lang in EVERY:
        if channel is Channel.WHATSAPP:
            names = set(versions.whatsapp_body(purpose, lang).params)
        else:
            names = set()
            for name in versions.sources(purpose, channel, lang):
                if not name.endswith(".json"):
                    names |= meta.find_undeclared_variables(env.parse((versions.TEMPLATES / name).read_text()))
        assert not forbidden & names, (purpose, channel, lang)
        # `reason` is the words of `reason_code`; `chat` is the renderer's own flag for Telegram
        assert names <= set(CHECKS) | {"reason", "chat"}, names - set(CHECKS)


def test_a_nik_passed_as_a_parameter_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown template parameter 'nik'"):
        rendered(Purpose.READY, Channel.SMS, "id", nik="3171014101900001")
    with pytest.raises(InvalidInput, match="'first_name' must be free of a 16-digit number"):
        rendered(Purpose.READY, Channel.SMS, "id", first_name="3171 0141 0190 0001")


def test_a_hold_never_tells_the_applicant_about_a_watch_list() -> None:
    assert set(render.HOLD_REASON_OF_CLEARANCE) == set(ClearanceKind)
    assert set(render.HOLD_REASON_OF_CLEARANCE.values()) <= set(versions.words("id")["reasons"])
    for lang in ("id", "en"):
        reason = render.HOLD_REASON_OF_CLEARANCE[ClearanceKind.WATCHLIST_CLEAR]
        text = rendered(Purpose.ON_HOLD, Channel.EMAIL, lang, reason_code=reason).text.lower()
        assert not re.search(r"cekal|watch|cegah|tangkal|prevention", text)
        assert "hubungi kantor" in text or "contact the office" in text


# -- the parameters -----------------------------------------------------------------------------

@pytest.mark.parametrize(("purpose", "key"), [(p, k) for p in Purpose for k in render.common(p) + NEEDS[p]])
def test_a_missing_parameter_raises_naming_it(purpose: Purpose, key: str) -> None:
    params = sample_params(purpose, "id")
    del params[key]
    with pytest.raises(InvalidInput, match=f"'{key}' is missing") as caught:
        render.render(purpose, Channel.EMAIL, "id", params)
    assert caught.value.extra["key"] == key and caught.value.code == "template-param-missing"


@pytest.mark.parametrize(("purpose", "key", "value"), [
    (Purpose.BILLING_ISSUED, "expires_at", datetime(2026, 12, 1, 10, 30)),
    (Purpose.BILLING_ISSUED, "amount", "650000"),
    (Purpose.BILLING_ISSUED, "amount", True),
    (Purpose.BILLING_ISSUED, "billing_code", "82026120100421"),
    (Purpose.BOOKING_CONFIRMED, "day", datetime(2026, 12, 1, 8, 30)),
    (Purpose.BOOKING_CONFIRMED, "slot", "8:30"),
    (Purpose.BOOKING_CONFIRMED, "what_to_bring", []),
    (Purpose.BOOKING_CONFIRMED, "what_to_bring", ["ktpp"]),
    (Purpose.READY, "timezone", "Asia/Nowhere"),
    (Purpose.READY, "confirm_url", "http://kanim.example/k/1"),
    (Purpose.READY, "first_name", "   "),
    (Purpose.ON_HOLD, "reason_code", "possible duplicate: MDO-20261101-0007"),
])
def test_an_ill_typed_parameter_raises_naming_it(purpose: Purpose, key: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=f"'{key}' must be"):
        rendered(purpose, Channel.SMS, "en", **{key: value})


def test_the_docstring_documents_every_parameter() -> None:
    lines = render.__doc__.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("=====")]
    keys = {line.split()[0] for line in lines[rules[1] + 1:rules[2]] if not line.startswith(" ")}
    assert keys == set(CHECKS)
    for key in versions.words("id")["documents"]:
        assert f"`{key}`" in render.__doc__


def test_free_text_documents_and_an_all_capitals_name_are_written_as_a_person_would() -> None:
    message = rendered(Purpose.BOOKING_CONFIRMED, Channel.EMAIL, "id", first_name="SITI",
                       what_to_bring=["ktp", "Surat rekomendasi dari kantor Anda"])
    assert message.text.startswith("Yth. Bapak/Ibu Siti,")
    assert "- KTP\n- Surat rekomendasi dari kantor Anda" in message.text


def test_an_unknown_language_purpose_or_channel_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no templates in language 'fr'"):
        render.render(Purpose.READY, Channel.SMS, "fr", sample_params(Purpose.READY, "en"))
    with pytest.raises(ValueError):
        render.render("collected", Channel.SMS, "id", {})
    with pytest.raises(ValueError):
        render.render(Purpose.READY, "fax", "id", sample_params(Purpose.READY, "id"))


# -- the helper ---------------------------------------------------------------------------------

def test_the_helper_checks_and_previews(capsys: pytest.CaptureFixture[str]) -> None:
    assert render.main(["--check"]) == 0
    assert render.main(["--preview", "ready", "sms", "id"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ready/sms/id v") and "segment(s), GSM-7" in out and "Yth. Siti," in out
