"""Words the console shows for the domain's own values (stages, roles, kinds...): message ids
made from the value, listed here so that extraction puts them in the catalogs. A test checks
that every value of these enumerations is here."""

from __future__ import annotations

from kanim.web.console.desks import N_

STAGES = [N_("booked"), N_("checked_in"), N_("intake_done"), N_("captured"), N_("interviewed"), N_("approved"),
          N_("rejected"), N_("printed"), N_("qc_passed"), N_("ready"), N_("handed_over"), N_("cancelled"),
          N_("on_hold")]
ROLES = [N_("front_desk"), N_("cashier"), N_("biometric_operator"), N_("interviewer"), N_("supervisor"),
         N_("print_operator"), N_("pickup_desk"), N_("admin"), N_("watchlist")]
APPLICATION_TYPES = [N_("new"), N_("renewal"), N_("replacement_lost"), N_("replacement_damaged")]
PASSPORT_KINDS = [N_("ordinary"), N_("electronic")]
SEXES = [N_("sex:M"), N_("sex:F")]
PRIORITIES = [N_("priority:none"), N_("priority:travel"), N_("priority:hajj_umrah"), N_("priority:medical")]
CLEARANCE_KINDS = [N_("nik_verified"), N_("watchlist_clear"), N_("not_duplicate"), N_("payment_confirmed"),
                   N_("recorded_centrally")]
CLEARANCE_STATES = [N_("pending"), N_("provisional"), N_("confirmed"), N_("flagged")]
LINK_STATES = [N_("link:up"), N_("link:degraded"), N_("link:down"), N_("link:stalled"), N_("link:unlinked"),
               N_("link:never")]
GUARDRAILS = [N_("guardrail:watchlist_snapshot"), N_("guardrail:unsent_work")]
PAYMENT_ISSUES = [N_("payment:amount"), N_("payment:unknown_code"), N_("payment:paid_twice")]
# The messages to applicants (kanim.notify.purposes): a purpose, a message's state (a hyphen in
# the value is an underscore in the message id), a channel, and an attempt's outcome (the
# worker's, or a channel's receipt: `receipt:delivered` is `outcome:receipt_delivered`).
PURPOSES = [N_("purpose:booking_confirmed"), N_("purpose:billing_issued"), N_("purpose:billing_reminder"),
            N_("purpose:payment_received"), N_("purpose:printed_waiting"), N_("purpose:ready"),
            N_("purpose:pickup_reminder"), N_("purpose:on_hold"), N_("purpose:rescheduled"), N_("purpose:no_show"),
            N_("purpose:ticket_reply"), N_("purpose:announcement"), N_("purpose:status_confirm"),
            N_("purpose:status_notice"), N_("purpose:track_code")]
MESSAGE_STATES = [N_("message:created"), N_("message:sending"), N_("message:sent"), N_("message:delivered"),
                  N_("message:permanent_failure"), N_("message:temporary_failure"), N_("message:technical_failure"),
                  N_("message:cancelled")]
CHANNELS = [N_("channel:whatsapp"), N_("channel:sms"), N_("channel:email"), N_("channel:telegram"), N_("channel:none")]
# Alerts to the office's own staff (kanim.notify.alerts.Kind).
ALERT_KINDS = [N_("alert:channel_refused"), N_("alert:channel_unreachable"), N_("alert:channel_back"),
               N_("alert:template_failed"), N_("alert:test"), N_("alert:backup_warning"), N_("alert:social_post")]
# A status-page subscriber's state (kanim.office.subscriptions).
SUBSCRIBER_STATES = [N_("subscriber:pending"), N_("subscriber:active"), N_("subscriber:ended")]
ATTEMPT_OUTCOMES = [N_("outcome:accepted"), N_("outcome:temporary"), N_("outcome:permanent"), N_("outcome:technical"),
                    N_("outcome:interrupted"), N_("outcome:receipt_sent"), N_("outcome:receipt_delivered"),
                    N_("outcome:receipt_read"), N_("outcome:receipt_failed")]
