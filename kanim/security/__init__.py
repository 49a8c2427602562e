"""Accounts and roles, password hashing, encryption of biometric files, the audit chain."""
