"""The photo and fingerprint desk: the queue of applicants waiting for capture, the face photo
from the desk's camera (getUserMedia, a still JPEG from a <canvas>) or from a file with the
server's checks shown at once, the ten fingers from the scanner's files or with an exception,
and completing capture. Every action is a use case of kanim.office.capture; every read of an
image goes through `capture.read_biometric`, which audits it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kanim.domain.errors import DomainError
from kanim.domain.fingers import FingerException
from kanim.office import capture
from kanim.office.accounts import StaffUser
from kanim.office.queries import biometrics as queries
from kanim.security.roles import Perm
from kanim.web.console.desks import N_
from kanim.web.console.forms import read_form
from kanim.web.console.render import gettext, page
from kanim.web.console.session import PREFIX, ConsoleStaff
from kanim.web.contract import Route
from kanim.web.schemas import FingerExceptionIn
from kanim.web.uploads import read_upload

router = APIRouter(prefix=f"{PREFIX}/biometrics", route_class=Route, include_in_schema=False)
Desk = ConsoleStaff(Perm.CAPTURE)
AppId = Annotated[str, Path(max_length=36)]
Position = Annotated[int, Path(ge=1, le=10)]
Upload = Annotated[UploadFile, File()]
NO_STORE = {"Cache-Control": "no-store"}

# The photo rules in the order kanim.biometrics.photo checks them, each with the problem codes
# that mean it failed: a refusal names the first rule broken, so the ones before it passed and
# the ones after it were not looked at.
PHOTO_CHECKS: tuple[tuple[str, frozenset[str]], ...] = (
    (N_("An image file (JPEG or PNG)"),
     frozenset({"photo-too-large", "photo-not-an-image", "upload-empty", "upload-too-large"})),
    (N_("Resolution"), frozenset({"photo-resolution"})),
    (N_("One face"), frozenset({"photo-no-face", "photo-several-faces"})),
    (N_("Face size (chin to crown)"), frozenset({"photo-face-size"})),
    (N_("Plain light background"), frozenset({"photo-background"})),
)
FINGER_NAMES = [N_("right thumb"), N_("right index"), N_("right middle"), N_("right ring"), N_("right little"),
                N_("left thumb"), N_("left index"), N_("left middle"), N_("left ring"), N_("left little")]
FINGER_EXCEPTIONS = [N_("finger:missing"), N_("finger:injured"), N_("finger:unreadable")]
FINGER_STATES = [N_("finger-state:waiting"), N_("finger-state:captured"), N_("finger-state:excepted")]
# The desk's problems in the desk's language (kanim.web.console.errors: `problem:<code>`).
PROBLEM_WORDS = [
    N_("problem:photo-too-large"), N_("problem:photo-not-an-image"), N_("problem:photo-resolution"),
    N_("problem:photo-no-face"), N_("problem:photo-several-faces"), N_("problem:photo-face-size"),
    N_("problem:photo-background"), N_("problem:photo-missing"), N_("problem:fingerprint-too-large"),
    N_("problem:fingerprint-not-an-image"), N_("problem:fingerprint-resolution"), N_("problem:fingerprint-blank"),
    N_("problem:fingerprint-colour"), N_("problem:fingerprint-no-ridges"), N_("problem:fingerprint-position"),
    N_("problem:fingerprints-incomplete"), N_("problem:payment-required"), N_("problem:upload-empty"),
    N_("problem:upload-too-large"), N_("problem:transition-out-of-order"), N_("problem:biometric-not-found"),
    N_("problem:concurrent-change"),
]


# -- pages -------------------------------------------------------------------------------------

@router.get("")
async def biometrics_desk(request: Request, user: Desk) -> Response:
    queue = await run_in_threadpool(queries.capture_queue, request.app.state.office)
    return page(request, "console/biometrics/desk.html", queue=queue)


@router.get("/{application_id}")
async def capture_page(request: Request, application_id: AppId, user: Desk) -> Response:
    state = await run_in_threadpool(queries.capture_state, request.app.state.office, application_id)
    return page(request, "console/biometrics/capture.html", cap=state, app=state.application,
                exceptions=list(FingerException))


@router.get("/{application_id}/photo.jpg")
async def photo(request: Request, application_id: AppId, user: Desk, v: str | None = None) -> Response:
    """The accepted photo, for the operator to look at (`v` only defeats a stale image)."""
    return await photo_response(request, application_id, user, purpose="capture desk: check the accepted photo")


# -- actions -----------------------------------------------------------------------------------

@router.post("/{application_id}/photo")
async def upload_photo(request: Request, application_id: AppId, file: Upload, user: Desk) -> Response:
    office = request.app.state.office
    try:
        data = read_upload(file, office.settings.max_upload_bytes)
        stored = await run_in_threadpool(capture.upload_photo, office, application_id=application_id, data=data,
                                         actor=user.username)
    except DomainError as e:
        e.extra = {**e.extra, "reasons": photo_reasons(request.state.lang, e.code)}
        raise
    state = await run_in_threadpool(queries.capture_state, office, application_id)
    return page(request, "console/biometrics/_photo_result.html", cap=state, app=state.application,
                checks=photo_checks(request.state.lang, stored, office.photo_policy), accepted=True)


@router.post("/{application_id}/fingers/{position}")
async def upload_fingerprint(request: Request, application_id: AppId, position: Position, file: Upload,
                             user: Desk) -> Response:
    office = request.app.state.office
    data = read_upload(file, office.settings.max_upload_bytes)
    await run_in_threadpool(capture.upload_fingerprint, office, application_id=application_id, position=position,
                            data=data, actor=user.username)
    return await _finger(request, application_id, position, done="captured")


@router.post("/{application_id}/fingers/{position}/exception")
async def finger_exception(request: Request, application_id: AppId, position: Position, user: Desk) -> Response:
    body = await read_form(request, FingerExceptionIn)
    await run_in_threadpool(capture.record_finger_exception, request.app.state.office,
                            application_id=application_id, position=position, exception=body.exception.value,
                            actor=user.username)
    return await _finger(request, application_id, position, done="excepted")


@router.post("/{application_id}/complete")
async def complete(request: Request, application_id: AppId, user: Desk) -> Response:
    office = request.app.state.office
    try:
        await run_in_threadpool(capture.complete_capture, office, application_id=application_id,
                                actor=user.username)
    except DomainError as e:
        if missing := e.extra.get("missing"):  # finger labels: shown in the desk's words
            e.extra = {**e.extra, "reasons": [gettext(request.state.lang, m) for m in missing]}
        raise
    state = await run_in_threadpool(queries.capture_state, office, application_id)
    return page(request, "console/biometrics/_capture.html", cap=state, app=state.application,
                exceptions=list(FingerException), completed=True)


async def _finger(request: Request, application_id: str, position: int, *, done: str) -> Response:
    state = await run_in_threadpool(queries.capture_state, request.app.state.office, application_id)
    return page(request, "console/biometrics/_finger.html", cap=state, app=state.application,
                finger=state.fingers[position - 1], exceptions=list(FingerException), done=done, oob_status=True)


# -- the photo, read back and checked ----------------------------------------------------------

async def photo_response(request: Request, application_id: str, user: StaffUser, *, purpose: str) -> Response:
    """The accepted face photo as JPEG; the read is audited (capture.read_biometric) with the
    desk's purpose. Any desk that shows the photo answers through this."""
    data = await run_in_threadpool(capture.read_biometric, request.app.state.office, application_id=application_id,
                                   kind=capture.FACE, position=0, actor=user.username, purpose=purpose)
    return Response(data, media_type="image/jpeg", headers=NO_STORE)


def photo_reasons(lang: str, code: str) -> list[str]:
    """Each photo rule and how it went, for a refused photo: passed, refused, or not checked."""
    failed = next((i for i, (_, codes) in enumerate(PHOTO_CHECKS) if code in codes), None)
    if failed is None:
        return []
    words = []
    for i, (name, _) in enumerate(PHOTO_CHECKS):
        if i < failed:
            words.append(gettext(lang, "✓ %(check)s: passed", check=gettext(lang, name)))
        elif i == failed:
            words.append(gettext(lang, "✗ %(check)s: refused", check=gettext(lang, name)))
        else:
            words.append(gettext(lang, "– %(check)s: not checked yet", check=gettext(lang, name)))
    return words


def photo_checks(lang: str, stored: dict, policy) -> list[tuple[str, str]]:  # noqa: ANN001 - a PhotoPolicy
    """An accepted photo's rules with what was measured: (rule, measurement)."""
    q = stored.get("quality") or {}
    ratio = q.get("face_height_ratio") or 0
    values = [
        gettext(lang, "JPEG, stored without metadata"),
        gettext(lang, "%(w)s × %(h)s px (at least %(mw)s × %(mh)s)", w=stored["width"], h=stored["height"],
                mw=policy.min_width, mh=policy.min_height),
        gettext(lang, "one face found"),
        gettext(lang, "%(ratio)s of the height (%(lo)s–%(hi)s)", ratio=f"{ratio:.0%}",
                lo=f"{policy.min_face_height_ratio:.0%}", hi=f"{policy.max_face_height_ratio:.0%}"),
        gettext(lang, "brightness %(mean)s (at least %(min)s), variation %(std)s (at most %(max)s)",
                mean=f"{q.get('background_mean', 0):.0f}", min=f"{policy.min_background_mean:.0f}",
                std=f"{q.get('background_std', 0):.0f}", max=f"{policy.max_background_std:.0f}"),
    ]
    return [(gettext(lang, name), value) for (name, _), value in zip(PHOTO_CHECKS, values, strict=True)]

