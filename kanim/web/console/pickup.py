"""The pickup desk (penyerahan paspor): the passports ready to hand over and the ones printed but
still waiting (so the desk can tell an applicant why), the identity check for each kind of
recipient, the handover itself and its printable receipt; and the day by pickup slot (staged
pickup, kanim.office.pickup_slots): who is due in each slot and who confirmed their slot.

Who may collect (kanim.domain.application `Handover`): the holder with their KTP (its NIK and
name must be the holder's); a family member on the same family card (KK) with their own KTP and
the KK; someone with a power of attorney (surat kuasa) with their own KTP; or the post."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kanim.domain.application import Handover, RecipientKind
from kanim.domain.errors import DomainError
from kanim.office import handover, pickup_slots
from kanim.office.queries import pickup as queries
from kanim.security.roles import Perm
from kanim.web.console.actions import run
from kanim.web.console.desks import N_
from kanim.web.console.forms import query_day, read_form
from kanim.web.console.render import gettext, page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import HandoverIn

router = APIRouter(prefix=f"{PREFIX}/pickup", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.HANDOVER)
AppId = Annotated[str, Path(max_length=36)]
Search = Annotated[str, Query(max_length=100)]
# Where each rule's words go on this desk's form (kanim/web/console/actions.py): the NIK here is
# the one on the KTP shown (`id_nik`), not the applicant's.
FIELDS = {"nik": "id_nik", "recipient-nik": "id_nik", "recipient-missing": "recipient_name",
          "id-not-checked": "id_checked", "kk-mismatch": "recipient_kk_number",
          "attorney-letter": "attorney_letter_ref", "post-details": "post_tracking"}
# The domain's reasons for `recipient-not-holder` (kanim.domain.application._check_is_holder),
# each beside the field it concerns and in the desk's language.
NOT_HOLDER = {N_("the NIK on the KTP shown is not the holder's NIK"): "id_nik",
              N_("the recipient's name is not the holder's name"): "recipient_name"}
SLOT_STATES = [N_("pickup:offered"), N_("pickup:confirmed"), N_("pickup:collected")]  # pickup_slots.PICKUP_STATES
KINDS = [N_("recipient:holder"), N_("recipient:family_same_kk"), N_("recipient:power_of_attorney"),
         N_("recipient:post")]
PROBLEMS = [
    N_("problem:recipient-not-holder"), N_("problem:recipient-missing"), N_("problem:recipient-nik-missing"),
    N_("problem:recipient-nik-is-holder"), N_("problem:kk-mismatch"), N_("problem:attorney-letter-missing"),
    N_("problem:post-details-missing"), N_("problem:id-not-checked"), N_("problem:handover-gate-closed"),
    N_("problem:nik-length"), N_("problem:nik-not-digits"), N_("problem:nik-province"), N_("problem:nik-day"),
    N_("problem:nik-month"), N_("problem:nik-date"), N_("problem:nik-serial"),
    N_("problem:name-character"), N_("problem:name-too-long"), N_("problem:name-empty"),
    N_("problem:application-not-found"),
]


@router.get("")
async def pickup_desk(request: Request, user: Desk, q: Search = "") -> Response:
    desk = await run_in_threadpool(queries.pickup_desk, request.app.state.office, q)
    return page(request, "console/pickup/desk.html", desk=desk)


@router.get("/lists")
async def lists(request: Request, user: Desk, q: Search = "") -> Response:
    """The ready and waiting lists alone, narrowed by number or name as the officer types."""
    desk = await run_in_threadpool(queries.pickup_desk, request.app.state.office, q)
    return page(request, "console/pickup/_lists.html", desk=desk)


@router.get("/day")
async def day_by_slot(request: Request, user: Desk, day: Annotated[str, Query(max_length=10)] = "") -> Response:
    """The day's pickup slots (today unless another day is picked), each with its people."""
    shown = await run_in_threadpool(pickup_slots.pickup_day, request.app.state.office, query_day(day, "day"))
    return page(request, "console/pickup/day.html", d=shown)


@router.get("/handover/{application_id}")
async def handover_form(request: Request, application_id: AppId, user: Desk) -> Response:
    app = await run_in_threadpool(queries.application, request.app.state.office, application_id)
    return page(request, "console/pickup/_handover.html", app=app, kinds=list(RecipientKind))


@router.post("/handover/{application_id}")
async def hand_over(request: Request, application_id: AppId, user: Desk) -> Response:
    body = await read_form(request, HandoverIn)
    office = request.app.state.office
    try:
        app = await run(handover.hand_over, office, application_id=application_id,
                        handover=Handover(**body.model_dump()), actor=user.username, fields=FIELDS)
    except DomainError as e:
        if e.code == "recipient-not-holder":
            _beside_their_fields(e, request.state.lang)
        raise
    desk = await run_in_threadpool(queries.pickup_desk, office, "")
    return page(request, "console/pickup/_done.html", app=app, desk=desk)


@router.get("/receipt/{application_id}")
async def receipt(request: Request, application_id: AppId, user: Desk) -> Response:
    """The handover receipt, to print and have the recipient sign."""
    done = await run_in_threadpool(queries.handed_over, request.app.state.office, application_id)
    return page(request, "console/pickup/receipt.html", done=done)


def _beside_their_fields(e: DomainError, lang: str) -> None:
    """Each reason the identity is not the holder's, in the desk's words, beside its field."""
    reasons = [str(r) for r in e.extra.get("reasons") or []]
    e.extra["fields"] = {NOT_HOLDER[r]: gettext(lang, r) for r in reasons if r in NOT_HOLDER}
    e.extra["reasons"] = [gettext(lang, r) for r in reasons]
