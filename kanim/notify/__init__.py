"""Telling applicants: domain events -> rules -> messages rendered from versioned templates ->
channels (Apprise), with what Apprise lacks kept by kanim (docs/notifications.md).

- `purposes`  what a message is for, and the states a message goes through (GOV.UK Notify's);
- `render`    templates per purpose, channel and language, with their versions (SMS in GSM-7
              segments, WhatsApp as an approved template and its parameters, email HTML + text);
- `transport` one send through Apprise, its outcome classified (accepted, temporary, permanent,
              technical) so the worker knows whether to retry, fall back or give up;
- `receipts`  the WhatsApp Cloud API's status webhooks: signature checked, statuses parsed;
- `rules`     which events tell whom what (data an office switches on and off);
- `worker`    the dispatcher: retries with backoff, rate limits, caps, quiet hours, fallback.
"""
