"""Messages to applicants over HTTP: the queue's status and a message's history for staff, the
rules' switches, and the channels' webhooks, called without a staff login: the WhatsApp Cloud
API's (delivery receipts and replies, proved by `X-Hub-Signature-256`), the SMS gateway's
replies (its API key) and the Telegram bot's updates (its secret token)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from kanim.domain.errors import DomainError, NotFound
from kanim.http.wire import IsoDate
from kanim.notify.purposes import Purpose
from kanim.office import notify, pickup_slots, subscriptions, telegram, tickets
from kanim.office.queries import notify as notify_views
from kanim.security.roles import Perm
from kanim.web.contract import Route, errors
from kanim.web.deps import OfficeDep, Staff
from kanim.web.replies import (
    MessageOut,
    NotifyRuleOut,
    NotifyStatusOut,
    PickupAnswerOut,
    PickupExtraOut,
    PickupSlotOut,
    TelegramAnswerOut,
    WebhookOut,
)
from kanim.web.schemas import NotifyRuleIn, PickupAnswerIn, PickupExtraIn

router = APIRouter(prefix="/notify", tags=["notify"], route_class=Route)


class WebhookRefused(DomainError):
    code = "webhook-signature-invalid"
    status = 401


class VerifyTokenWrong(DomainError):
    code = "webhook-verify-token-wrong"
    status = 403


class WebhookOff(DomainError):
    code = "webhook-not-configured"
    status = 404


@router.get("/status", response_model=NotifyStatusOut)
def status(office: OfficeDep, user: Staff(Perm.VIEW_NOTIFY)) -> dict:
    """Messages by state and channel, the events waiting for the rules, the latest failures."""
    return notify_views.status(office).as_dict()


@router.get("/applications/{application_id}/messages", response_model=list[MessageOut],
            responses=errors({404: "`application-not-found`"}))
def messages(application_id: str, office: OfficeDep, user: Staff(Perm.VIEW_NOTIFY)) -> list[dict]:
    """Every message to the application's applicant, with each attempt (addresses masked)."""
    with office.uow(readonly=True) as uow:
        if notify.load_facts(uow, application_id) is None:
            raise NotFound(f"no application {application_id}", code="application-not-found")
    return notify_views.history(office, application_id=application_id)


@router.get("/rules", response_model=list[NotifyRuleOut])
def rules(office: OfficeDep, user: Staff(Perm.VIEW_NOTIFY)) -> list[dict]:
    with office.uow(readonly=True) as uow:
        return [{"purpose": p.value, "enabled": on} for p, on in notify.rules(uow).items()]


@router.put("/rules/{purpose}", response_model=NotifyRuleOut)
def set_rule(purpose: Purpose, body: NotifyRuleIn, office: OfficeDep, user: Staff(Perm.MANAGE_NOTIFY)) -> dict:
    """Switch one rule on or off for this office (audited)."""
    with office.uow() as uow:
        notify.set_rule(uow, purpose, enabled=body.enabled, actor=user.username)
        uow.commit()
    return {"purpose": purpose.value, "enabled": body.enabled}


@router.get("/whatsapp/webhook", response_class=PlainTextResponse,
            responses=errors({403: "`webhook-verify-token-wrong`", 404: "`webhook-not-configured`"}))
def verify_webhook(office: OfficeDep,
                   mode: Annotated[str, Query(alias="hub.mode", max_length=32)] = "",
                   token: Annotated[str, Query(alias="hub.verify_token", max_length=256)] = "",
                   challenge: Annotated[str, Query(alias="hub.challenge", max_length=256)] = "") -> str:
    """Meta's handshake when the webhook is registered: echo the challenge for our token."""
    expected = office.settings.notify_verify_token
    if not expected:
        raise WebhookOff("no WhatsApp webhook is configured at this office (KANIM_NOTIFY_VERIFY_TOKEN)")
    if mode != "subscribe" or not _same(token, expected):
        raise VerifyTokenWrong("the verify token does not match this office's (KANIM_NOTIFY_VERIFY_TOKEN)")
    return challenge


@router.post("/whatsapp/webhook", response_model=WebhookOut,
             responses=errors({401: "`webhook-signature-invalid`", 404: "`webhook-not-configured`",
                               422: "`webhook-malformed`"}))
async def whatsapp_webhook(request: Request, office: OfficeDep) -> dict:
    """Delivery receipts (sent, delivered, read, failed) and replies (STOP / BERHENTI opts out,
    YA confirms a pickup slot, GANTI asks for another; anything else is a question for staff, a
    ticket of the complaint desk), signed by Meta with the app secret."""
    from kanim.notify.receipts import parse_inbound, parse_statuses, verify_signature

    secret = office.settings.notify_webhook_secret
    if not secret:
        raise WebhookOff("no WhatsApp webhook is configured at this office (KANIM_NOTIFY_WEBHOOK_SECRET)")
    body = await request.body()
    if not verify_signature(body, request.headers.get("x-hub-signature-256"), secret):
        raise WebhookRefused("the X-Hub-Signature-256 header does not sign this body with the app secret")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past Python's stack
        raise DomainError("the body is not JSON kanim can read", code="webhook-malformed") from None
    if not isinstance(payload, dict):
        raise DomainError("the body is not a JSON object", code="webhook-malformed")
    return inbound_from_whatsapp(office, parse_statuses(payload), parse_inbound(payload))


@router.post("/sms/inbound", response_model=WebhookOut,
             responses=errors({401: "`webhook-signature-invalid`", 404: "`webhook-not-configured`",
                               422: "`webhook-malformed`"}))
async def sms_inbound(request: Request, office: OfficeDep) -> dict:
    """An SMS reply, forwarded by the office's SMSEagle gateway (its Callback URL, POST, with this
    office's API key): STOP / BERHENTI opts out, YA confirms a pickup slot, GANTI asks for
    another, anything else becomes a ticket of the complaint desk. The fields are SMSEagle's:
    `apikey`, `sender`, `text`, `msgid`."""
    from kanim.notify.receipts import Inbound, sms_reply

    key = office.settings.notify_sms_callback_key
    if not key:
        raise WebhookOff("no SMS callback is configured at this office (KANIM_NOTIFY_SMS_CALLBACK_KEY)")
    try:
        form = await request.form(max_files=0, max_fields=20)
    except Exception:  # noqa: BLE001 - Starlette's parser raises several kinds for a malformed body
        raise DomainError("the body is not a form kanim can read", code="webhook-malformed") from None
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not _same(fields.get("apikey", ""), key):
        raise WebhookRefused("the apikey field is not this office's SMS callback key (KANIM_NOTIFY_SMS_CALLBACK_KEY)")
    reply: Inbound | None = sms_reply(fields)
    if reply is None:
        raise DomainError("the form names no sender phone number kanim can read", code="webhook-malformed")
    return inbound_from_whatsapp(office, [], [reply], channel="sms")


@router.post("/telegram/webhook", response_model=TelegramAnswerOut, response_model_exclude_none=True,
             responses=errors({401: "`webhook-signature-invalid`", 404: "`webhook-not-configured`",
                               422: "`webhook-malformed`"}))
async def telegram_webhook(request: Request, office: OfficeDep) -> dict:
    """Updates from the office's Telegram bot (setWebhook with this URL and a `secret_token`,
    which Telegram sends back in `X-Telegram-Bot-Api-Secret-Token`): `/start <code>` from a
    booking's link links the chat to it; STOP, BERHENTI or /stop opts out; YA and GANTI answer a
    pickup slot; anything else is a question for staff (a ticket). The answer is the bot's reply,
    as a Bot API method Telegram carries out; what kanim does not read is answered with nothing."""
    from kanim.notify.receipts import parse_telegram

    secret = office.settings.notify_telegram_secret
    if not secret:
        raise WebhookOff("no Telegram webhook is configured at this office (KANIM_NOTIFY_TELEGRAM_SECRET)")
    if not _same(request.headers.get("x-telegram-bot-api-secret-token", ""), secret):
        raise WebhookRefused("the X-Telegram-Bot-Api-Secret-Token header is not this office's secret token")
    try:
        payload = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise DomainError("the body is not JSON kanim can read", code="webhook-malformed") from None
    message = parse_telegram(payload)
    if message is None:
        return {}
    return await run_in_threadpool(_from_telegram, office, message)


def _from_telegram(office, message) -> dict:  # noqa: ANN001 - an Office, a TelegramMessage
    from kanim.web.console.render import gettext

    lang, chat = message.language, message.inbound.from_number
    name = office.settings.office_name
    if message.command == "start":
        with office.uow() as uow:
            linked = notify.first_time(uow, message.inbound.id) and telegram.link(
                uow, office.settings, code=message.argument, chat_id=chat)
            uow.commit()
        if linked and linked.taken:  # in the sender's language: the booking's is not theirs to learn
            text = gettext(lang, "This link is already in use in another Telegram chat. If that was not "
                           "you, please call %(office)s on %(phone)s.", office=name, phone=office.settings.office_phone)
        elif linked:
            text = gettext(linked.language, "Hello %(name)s: the messages about application %(number)s from "
                           "%(office)s will come to this chat. Reply STOP to stop them.",
                           name=linked.first_name, number=linked.number, office=name)
        elif linked is None:
            text = gettext(lang, "To get your passport messages here, open the Telegram link of your booking "
                           "or your receipt from %(office)s.", office=name)
        else:
            return {}  # Telegram delivered this Start before: answered then
        return {"method": "sendMessage", "chat_id": int(chat), "text": text}
    if message.command not in (None, "stop", "berhenti"):
        return {}  # /help, /settings…: the chat's messages say what to write
    inbound_from_whatsapp(office, [], [message.inbound], channel="telegram")
    if notify.reply_intent(message.inbound.text) == "opt_out":
        text = gettext(lang, "You will get no more messages from %(office)s here.", office=name)
        return {"method": "sendMessage", "chat_id": int(chat), "text": text}
    return {}


def inbound_from_whatsapp(office, receipts, replies, *, channel: str = "whatsapp") -> dict:  # noqa: ANN001
    matched = 0
    with office.uow() as uow:
        for r in receipts:
            matched += notify.record_receipt(uow, provider_ref=r.provider_ref, status=r.status, at=r.at,
                                             error_code=r.error_code)
        for m in replies:
            if not notify.first_time(uow, m.id):
                continue  # Meta delivered this reply before: acted on once
            intent = notify.reply_intent(m.text)
            if intent == "opt_out":
                notify.opt_out(uow, m.from_number, how="reply", settings=office.settings)
                subscriptions.end_for_address(uow, m.from_number, how="reply")  # the status page's too
            elif intent in ("confirm", "change"):
                if intent == "confirm":  # YA also confirms a status-page subscription (double opt-in)
                    subscriptions.confirm_by_reply(uow, m.from_number)
                pickup_slots.answer(office, uow, address=m.from_number, intent=intent)
            else:  # a question for staff: the complaint desk's ticket of this number (docs/tickets.md)
                tickets.from_inbound(office, uow, channel=channel, address=m.from_number, text=m.text, at=m.at)
        uow.commit()
    return {"receipts": len(receipts), "matched": matched, "replies": len(replies)}


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


pickup_router = APIRouter(prefix="/pickup", tags=["pickup"], route_class=Route)


@pickup_router.get("/day", response_model=list[PickupSlotOut])
def pickup_day(office: OfficeDep, user: Staff(Perm.HANDOVER), day: IsoDate) -> list[dict]:
    """The pickup desk's day by slot: who comes, who confirmed, who collected."""
    return pickup_slots.day_view(office, day)


@pickup_router.post("/extra", response_model=PickupExtraOut, status_code=201,
                    responses=errors(409, 422))
def open_extra(body: PickupExtraIn, office: OfficeDep, user: Staff(Perm.MANAGE_PICKUP)) -> dict:
    """Open extra pickup service (a Saturday): the passports still waiting for a slot fill it."""
    pickup_slots.open_extra(office, day=body.day, slots=body.slots, seats=body.seats, actor=user.username)
    return {"day": body.day, "slots": sorted(body.slots), "seats": body.seats}


@pickup_router.post("/answers/{code}", response_model=PickupAnswerOut,
                    responses=errors({404: "`pickup-link-unknown`"}))
def answer_by_link(code: Annotated[str, Path(max_length=12, pattern=r"^[A-Za-z2-7]+$")], body: PickupAnswerIn,
                   office: OfficeDep) -> dict:
    """An applicant's answer through the link in their message: confirm the slot, or ask for
    the next free one. The code is the one in the link (random, given with the slot)."""
    with office.uow() as uow:
        application_id = pickup_slots.application_of(uow, code)
        if application_id is None:
            raise NotFound("this pickup link is not one of this office's", code="pickup-link-unknown")
        n = pickup_slots.answer(office, uow, application_id=application_id, intent=body.answer)
        uow.commit()
    return {"answer": body.answer, "slots": n}
