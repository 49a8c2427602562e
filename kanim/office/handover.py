"""Pickup desk: hand the passport to the holder, a family member on the same KK, someone with a
power of attorney, or send it by post. Refused unless the handover gate holds."""

from __future__ import annotations

from kanim.bootstrap import Office
from kanim.domain.application import Application, Handover
from kanim.office.common import transition


def hand_over(office: Office, *, application_id: str, handover: Handover, actor: str) -> Application:
    return transition(office, application_id,
                      lambda app, uow: app.hand_over(handover, at=uow.now(), actor=actor))
