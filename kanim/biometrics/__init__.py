"""Checks on captured biometrics before the office accepts them.

`photo` checks an uploaded face photo against the passport rules (one face, framed chin to crown
about 70-80% of the height, plain light background) and re-encodes it without metadata;
`fingerprint` checks a fingerprint image and names finger positions by their ISO/IEC 19794-4
codes. Both take bytes and return a report or raise `InvalidInput` with a stable `code`; neither
touches the disk or the database.
"""
