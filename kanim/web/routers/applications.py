"""Every desk's actions on one application: intake, payment, capture, interview,
adjudication, printing, handover, and the documents given out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, UploadFile
from fastapi.responses import Response

from kanim.domain.application import Handover, Stage
from kanim.domain.passport import DocumentKind
from kanim.office import adjudication, capture, documents, handover, intake, payment, printing
from kanim.security.roles import Perm
from kanim.web.contract import Offset, Route, errors
from kanim.web.deps import OfficeDep, Staff
from kanim.web.replies import BiometricOut, BiometricsOut, ChecklistOut, DocumentOut
from kanim.web.schemas import (
    ApplicationOut,
    BillingOut,
    FingerExceptionIn,
    HandoverIn,
    IntakeIn,
    NotesIn,
    PrintIn,
    QualityCheckIn,
    ReasonIn,
)
from kanim.web.uploads import read_upload

router = APIRouter(prefix="/applications", tags=["applications"], route_class=Route)
Upload = Annotated[UploadFile, File(description="the image or scan")]
# Checked by the use case, which refuses others with its own code (`document-kind`).
Kind = Annotated[str, Path(description="which original document", json_schema_extra={"enum": list(DocumentKind)})]
Position = Annotated[int, Path(ge=1, le=10, description="ISO/IEC 19794-4 finger position: 1 right thumb … "
                                                        "10 left little finger")]
IMAGE = {"description": "the image", "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}
PNG = {"description": "the image", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
PDF = {"description": "the receipt", "content": {"application/pdf": {"schema": {"type": "string",
                                                                             "format": "binary"}}}}
NO_STORE = {"Cache-Control": "no-store"}  # personal data must not sit in a browser cache


@router.get("", response_model=list[ApplicationOut])
def list_applications(office: OfficeDep, user: Staff(Perm.VIEW_APPLICATION), stage: Stage | None = None,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100,
                      offset: Offset = 0) -> list[ApplicationOut]:
    with office.uow(readonly=True) as uow:
        return [ApplicationOut.of(a) for a in uow.applications.list(stage=stage, limit=limit, offset=offset)]


@router.get("/{application_id}", response_model=ApplicationOut)
def get_application(application_id: str, office: OfficeDep, user: Staff(Perm.VIEW_APPLICATION)) -> ApplicationOut:
    """By id or by application number."""
    with office.uow(readonly=True) as uow:
        return ApplicationOut.of(uow.applications.get(application_id))


# -- intake ----------------------------------------------------------------------------------

@router.put("/{application_id}/documents/{kind}", status_code=201, response_model=DocumentOut,
            responses=errors({409: "`transition-out-of-order`: intake is over"}))
def upload_document(application_id: str, kind: Kind, file: Upload, office: OfficeDep,
                    user: Staff(Perm.INTAKE)) -> dict:
    """A scan of one original document (JPEG, PNG or PDF), stored encrypted."""
    data = read_upload(file, office.settings.max_upload_bytes)
    return intake.upload_document(office, application_id=application_id, kind=kind, data=data, actor=user.username)


@router.get("/{application_id}/documents", response_model=list[DocumentOut])
def list_documents(application_id: str, office: OfficeDep, user: Staff(Perm.INTAKE)) -> list[dict]:
    with office.uow() as uow:
        return intake.documents(uow, uow.applications.get(application_id).id)


@router.get("/{application_id}/checklist", response_model=ChecklistOut)
def checklist(application_id: str, office: OfficeDep, user: Staff(Perm.INTAKE), name_changed: bool = False) -> dict:
    """The documents this application needs, and which are still missing."""
    return intake.checklist(office, application_id=application_id, name_changed=name_changed)


@router.post("/{application_id}/intake", response_model=ApplicationOut, responses=errors(409))
def complete_intake(application_id: str, body: IntakeIn, office: OfficeDep, user: Staff(Perm.INTAKE)) -> ApplicationOut:
    """Documents complete, NIK checked locally, watch-list snapshot and duplicates checked."""
    return ApplicationOut.of(intake.complete_intake(office, application_id=application_id, actor=user.username,
                                                    name_changed=body.name_changed))


# -- payment ---------------------------------------------------------------------------------

@router.post("/{application_id}/billing", response_model=BillingOut, status_code=201, responses=errors(409))
def issue_billing(application_id: str, office: OfficeDep, user: Staff(Perm.BILL)) -> BillingOut:
    """A 15-digit billing code for the fee, valid for 2 hours."""
    app, quote = payment.issue_billing(office, application_id=application_id, actor=user.username)
    return BillingOut(application=ApplicationOut.of(app), billing_code=app.billing_code,
                      amount=quote.total, expires_at=app.billing_expires_at, lines=quote.lines)


# -- photo and fingerprints ------------------------------------------------------------------

@router.put("/{application_id}/photo", status_code=201, response_model=BiometricOut,
            responses=errors({409: "`payment-required`, or capture is over"}))
def upload_photo(application_id: str, file: Upload, office: OfficeDep, user: Staff(Perm.CAPTURE)) -> dict:
    """The face photo; refused with the rule it breaks (one face, size, plain light background)."""
    data = read_upload(file, office.settings.max_upload_bytes)
    return capture.upload_photo(office, application_id=application_id, data=data, actor=user.username)


@router.get("/{application_id}/photo", response_class=Response, responses={200: IMAGE})
def get_photo(application_id: str, office: OfficeDep, user: Staff(Perm.VIEW_BIOMETRICS)) -> Response:
    """The face photo. Every read is written to the audit log."""
    data = capture.read_biometric(office, application_id=application_id, kind=capture.FACE, position=0,
                                  actor=user.username, purpose="view photo")
    return Response(data, media_type="image/jpeg", headers=NO_STORE)


@router.put("/{application_id}/fingerprints/{position}", status_code=201, response_model=BiometricOut,
            responses=errors({409: "`payment-required`, or capture is over"}))
def upload_fingerprint(application_id: str, position: Position, file: Upload, office: OfficeDep,
                       user: Staff(Perm.CAPTURE)) -> dict:
    """One finger (ISO/IEC 19794-4 position 1-10)."""
    data = read_upload(file, office.settings.max_upload_bytes)
    return capture.upload_fingerprint(office, application_id=application_id, position=position, data=data,
                                      actor=user.username)


@router.post("/{application_id}/fingerprints/{position}/exception", status_code=201, response_model=BiometricOut,
             responses=errors({409: "`payment-required`, or capture is over"}))
def finger_exception(application_id: str, position: Position, body: FingerExceptionIn, office: OfficeDep,
                     user: Staff(Perm.CAPTURE)) -> dict:
    """A finger that cannot be captured: missing, injured or unreadable."""
    return capture.record_finger_exception(office, application_id=application_id, position=position,
                                           exception=body.exception, actor=user.username)


@router.get("/{application_id}/fingerprints/{position}", response_class=Response, responses={200: PNG})
def get_fingerprint(application_id: str, position: Position, office: OfficeDep,
                    user: Staff(Perm.VIEW_BIOMETRICS)) -> Response:
    data = capture.read_biometric(office, application_id=application_id, kind=capture.FINGERPRINT,
                                  position=position, actor=user.username, purpose="view fingerprint")
    return Response(data, media_type="image/png", headers=NO_STORE)


@router.get("/{application_id}/biometrics", response_model=BiometricsOut)
def biometrics(application_id: str, office: OfficeDep, user: Staff(Perm.VIEW_APPLICATION)) -> dict:
    """What has been captured (no images)."""
    with office.uow() as uow:
        return capture.summary(uow, uow.applications.get(application_id).id)


@router.post("/{application_id}/capture", response_model=ApplicationOut, responses=errors(409))
def complete_capture(application_id: str, office: OfficeDep, user: Staff(Perm.CAPTURE)) -> ApplicationOut:
    """Photo accepted and every finger captured or excepted."""
    return ApplicationOut.of(capture.complete_capture(office, application_id=application_id, actor=user.username))


# -- interview and adjudication --------------------------------------------------------------

@router.post("/{application_id}/interview", response_model=ApplicationOut, responses=errors(409))
def interview(application_id: str, body: NotesIn, office: OfficeDep, user: Staff(Perm.INTERVIEW)) -> ApplicationOut:
    return ApplicationOut.of(adjudication.record_interview(office, application_id=application_id,
                                                           notes=body.notes, actor=user.username))


@router.post("/{application_id}/approve", response_model=ApplicationOut, responses=errors(409))
def approve(application_id: str, office: OfficeDep, user: Staff(Perm.ADJUDICATE)) -> ApplicationOut:
    return ApplicationOut.of(adjudication.approve(office, application_id=application_id, actor=user.username))


@router.post("/{application_id}/reject", response_model=ApplicationOut, responses=errors(409))
def reject(application_id: str, body: ReasonIn, office: OfficeDep, user: Staff(Perm.ADJUDICATE)) -> ApplicationOut:
    return ApplicationOut.of(adjudication.reject(office, application_id=application_id, reason=body.reason,
                                                 actor=user.username))


@router.post("/{application_id}/cancel", response_model=ApplicationOut, responses=errors(409))
def cancel(application_id: str, body: ReasonIn, office: OfficeDep, user: Staff(Perm.ADJUDICATE)) -> ApplicationOut:
    return ApplicationOut.of(adjudication.cancel(office, application_id=application_id, reason=body.reason,
                                                 actor=user.username))


@router.post("/{application_id}/release-hold", response_model=ApplicationOut, responses=errors(409))
def release_hold(application_id: str, office: OfficeDep, user: Staff(Perm.ADJUDICATE)) -> ApplicationOut:
    """Send a held application back once the central no longer flags it."""
    return ApplicationOut.of(adjudication.release_hold(office, application_id=application_id, actor=user.username))


# -- printing --------------------------------------------------------------------------------

@router.post("/{application_id}/print", response_model=ApplicationOut, responses=errors(
    {409: "`print-gate-closed` or `guardrail` (with `reasons`), a booklet not in stock, or out of order"}))
def print_passport(application_id: str, body: PrintIn, office: OfficeDep, user: Staff(Perm.PRINT)) -> ApplicationOut:
    """Assign a booklet and compute the MRZ; refused unless the print gate holds."""
    return ApplicationOut.of(printing.print_passport(office, application_id=application_id, serial=body.serial,
                                                     actor=user.username))


@router.get("/{application_id}/data-page.png", response_class=Response,
            responses={200: PNG, **errors({409: "`not-printed`"})})
def data_page(application_id: str, office: OfficeDep, user: Staff(Perm.PRINT)) -> Response:
    """A preview of the personalised data page (marked SPECIMEN)."""
    png = documents.data_page_preview(office, application_id=application_id, actor=user.username)
    return Response(png, media_type="image/png", headers=NO_STORE)


@router.post("/{application_id}/quality-check", response_model=ApplicationOut, responses=errors(409))
def quality_check(application_id: str, body: QualityCheckIn, office: OfficeDep,
                  user: Staff(Perm.PRINT)) -> ApplicationOut:
    """Pass, or fail with a reason: the booklet is spoiled and the job goes back to the queue."""
    return ApplicationOut.of(printing.quality_check(office, application_id=application_id, passed=body.passed,
                                                    reason=body.reason, actor=user.username))


# -- handover and receipt --------------------------------------------------------------------

@router.post("/{application_id}/handover", response_model=ApplicationOut, responses=errors(
    {409: "`handover-gate-closed` (with `reasons`), `kk-mismatch`, or out of order"}))
def hand_over(application_id: str, body: HandoverIn, office: OfficeDep, user: Staff(Perm.HANDOVER)) -> ApplicationOut:
    """Refused unless the handover gate holds: printed, checked and every clearance confirmed."""
    h = Handover(**body.model_dump())
    return ApplicationOut.of(handover.hand_over(office, application_id=application_id, handover=h,
                                                actor=user.username))


@router.get("/{application_id}/receipt.pdf", response_class=Response, responses={200: PDF})
def receipt(application_id: str, office: OfficeDep, user: Staff(Perm.VIEW_APPLICATION)) -> Response:
    """The applicant's receipt with a QR code of the application number."""
    return Response(documents.receipt_pdf(office, application_id=application_id), media_type="application/pdf",
                    headers=NO_STORE)
