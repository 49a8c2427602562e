"""chip: electronic passports' Document Signers, trusted CSCAs, revocation lists, the
personalisation job of each electronic booklet and the registry's record of it (docs/chip.md)

Revision ID: 0011_chip
Revises: 0011_office_alert
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011_chip'
down_revision = '0011_office_alert'  # after the office alerts (merged from main)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('document_signer',
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('serial', sa.String(length=48), nullable=False),
    sa.Column('certificate', sa.LargeBinary(), nullable=False),
    sa.Column('key_label', sa.String(length=64), nullable=False),
    sa.Column('usable_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('usable_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('installed_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('fingerprint', name=op.f('pk_document_signer')))
    op.create_table('csca_anchor',
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('certificate', sa.LargeBinary(), nullable=False),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('fingerprint', name=op.f('pk_csca_anchor')))
    op.create_table('csca_crl',
    sa.Column('issuer', sa.String(length=400), nullable=False),
    sa.Column('number', sa.BigInteger(), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('issuer', name=op.f('pk_csca_crl')))
    op.create_table('chip_image',
    sa.Column('booklet_serial', sa.String(length=9), nullable=False),
    sa.Column('application_id', sa.String(length=36), nullable=False),
    sa.Column('file_ref', sa.String(length=80), nullable=False),
    sa.Column('ds_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('sod_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('booklet_serial', name=op.f('pk_chip_image')))
    op.create_index(op.f('ix_chip_image_application_id'), 'chip_image', ['application_id'], unique=False)
    op.create_table('registry_chip',
    sa.Column('serial', sa.String(length=9), nullable=False),
    sa.Column('application_id', sa.String(length=36), nullable=False),
    sa.Column('office_code', sa.String(length=8), nullable=False),
    sa.Column('ds_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('sod_sha256', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('serial', name=op.f('pk_registry_chip')))
    op.create_index(op.f('ix_registry_chip_application_id'), 'registry_chip', ['application_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_registry_chip_application_id'), table_name='registry_chip')
    op.drop_table('registry_chip')
    op.drop_index(op.f('ix_chip_image_application_id'), table_name='chip_image')
    op.drop_table('chip_image')
    op.drop_table('csca_crl')
    op.drop_table('csca_anchor')
    op.drop_table('document_signer')
