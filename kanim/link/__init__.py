"""The office ↔ central link: outbox relay, inbox of central decisions, (later) breaker, drain
ordering and rebuild. See docs/architecture.md."""
