"""Tables of the electronic passport's chip (kanim/chip, docs/chip.md), office and central.

- document_signer: the office's Document Signer certificates; the private key is in the
  PKCS#11 token under `key_label`, never here;
- csca_anchor: the CSCA certificates the office trusts (for its own QC of chips);
- csca_crl: the newest revocation list of each CSCA, as the central's feed carried it;
- chip_image: the personalisation job of each electronic booklet (the LDS files, encrypted in
  the vault: DG2 and DG3 are biometrics), which Document Signer signed it and the SOD's hash;
- registry_chip (central): the same hash and signer per passport, for later checks.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary, String, Table

from kanim.store.tables import metadata
from kanim.store.types import UTCDateTime

document_signer = Table(
    "document_signer", metadata,
    Column("fingerprint", String(64), primary_key=True),  # SHA-256 of the certificate
    Column("serial", String(48), nullable=False),  # decimal: CRLs name certificates by serial
    Column("certificate", LargeBinary, nullable=False),  # DER
    Column("key_label", String(64), nullable=False),
    Column("usable_from", UTCDateTime, nullable=False),
    Column("usable_until", UTCDateTime, nullable=False),  # end of the private-key usage period
    Column("installed_at", UTCDateTime, nullable=False),
    Column("installed_by", String(64), nullable=False),
)

csca_anchor = Table(
    "csca_anchor", metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("certificate", LargeBinary, nullable=False),
    Column("installed_at", UTCDateTime, nullable=False),
)

csca_crl = Table(
    "csca_crl", metadata,
    Column("issuer", String(400), primary_key=True),  # RFC 4514 name of the CSCA
    Column("number", BigInteger, nullable=False),
    Column("der", LargeBinary, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

chip_image = Table(
    "chip_image", metadata,
    Column("booklet_serial", String(9), primary_key=True),
    Column("application_id", String(36), nullable=False, index=True),
    Column("file_ref", String(80), nullable=False),  # vault: the job's JSON
    Column("ds_fingerprint", String(64), nullable=False),
    Column("sod_sha256", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

registry_chip = Table(
    "registry_chip", metadata,
    Column("serial", String(9), primary_key=True),
    Column("application_id", String(36), nullable=False, index=True),
    Column("office_code", String(8), nullable=False),
    Column("ds_fingerprint", String(64), nullable=False),
    Column("sod_sha256", String(64), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
)
