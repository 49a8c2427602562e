"""What a message to an applicant is for, and the states it goes through.

The states are GOV.UK Notify's, so that an operator who knows one knows the other: a message is
`created` in the transaction of the event that caused it, `sending` while a worker holds it,
`sent` once the channel accepted it, `delivered` when a receipt says so; `temporary-failure` is
retried with backoff, `permanent-failure` (a number that does not exist, an opt-out) and
`technical-failure` (retries used up, the channel misconfigured) are final for that channel and
fall back to the applicant's next one. kanim adds `cancelled`: a message that was no longer true
when its moment came (a reminder for a code already paid) or whose address opted out; it is
kept, with its reason, so that nothing disappears silently.
"""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    BOOKING_CONFIRMED = "booking_confirmed"  # day, slot, what to bring
    BILLING_ISSUED = "billing_issued"  # billing code, amount, expiry
    BILLING_REMINDER = "billing_reminder"  # the code expires soon and is unpaid
    PAYMENT_RECEIVED = "payment_received"
    PRINTED_WAITING = "printed_waiting"  # the delay notice: printed, waits for the central
    READY = "ready"  # ready, with the applicant's own pickup slot
    PICKUP_REMINDER = "pickup_reminder"  # the day before the pickup slot
    ON_HOLD = "on_hold"  # a hold or a central flag: please contact the office
    RESCHEDULED = "rescheduled"  # a new pickup slot, asked for or after a no-show
    NO_SHOW = "no_show"  # missed the pickup slot, moved to the next free one
    TICKET_REPLY = "ticket_reply"  # the complaint desk's answer to what the applicant wrote
    ANNOUNCEMENT = "announcement"  # a supervisor's one message to a set of applicants
    STATUS_CONFIRM = "status_confirm"  # a status-page subscriber is asked to confirm (double opt-in)
    STATUS_NOTICE = "status_notice"  # an incident, its update or maintenance, to the page's subscribers
    TRACK_CODE = "track_code"  # the one-time code /track asks for before details (KANIM_TRACK_CODE)

    @property
    def about_an_application(self) -> bool:
        """The status page's messages go to subscribers, who need not be applicants: they greet
        nobody by name and name no application number."""
        return self not in (Purpose.STATUS_CONFIRM, Purpose.STATUS_NOTICE)

    @property
    def urgent(self) -> bool:
        """Urgent notices go out in quiet hours too: a hold stops a journey, and a code about to
        expire is worth waking for less than losing the booking is; a one-time code is asked for
        by someone waiting for it on the page."""
        return self in (Purpose.ON_HOLD, Purpose.BILLING_REMINDER, Purpose.TRACK_CODE)


class State(StrEnum):
    CREATED = "created"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    PERMANENT_FAILURE = "permanent-failure"
    TEMPORARY_FAILURE = "temporary-failure"
    TECHNICAL_FAILURE = "technical-failure"
    CANCELLED = "cancelled"

    @property
    def waiting(self) -> bool:
        """Still to be sent by a worker."""
        return self in (State.CREATED, State.TEMPORARY_FAILURE)


# The order in which a message falls back when a channel fails for good: the applicant's
# preferred channel first, then the rest of this list that they have a contact for. Telegram is
# last: it is only ever there because the applicant asked for it, so it is their preferred one.
FALLBACK_ORDER = ("whatsapp", "sms", "email", "telegram")
