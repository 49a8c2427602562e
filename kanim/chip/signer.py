"""Where the Document Signer's private key lives, behind one small port.

`Pkcs11Key` is the office's: the key pair is generated inside a PKCS#11 token (SoftHSM2 in tests
and the demo, an HSM in production) as sensitive and not extractable, and every signature is
made by the token. `SoftwareKey` holds a `cryptography` key in memory, for the unit tests of the
pure LDS and verification code only."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from asn1crypto import csr as acsr
from asn1crypto import keys as akeys
from asn1crypto import x509 as ax509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEFAULT_MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                   "/usr/local/lib/softhsm/libsofthsm2.so")


class SigningKey(Protocol):
    def public_key_info(self) -> bytes: ...  # DER SubjectPublicKeyInfo

    def sign(self, data: bytes) -> bytes: ...  # DER ECDSA-with-SHA-256 signature


@dataclass(frozen=True)
class DocumentSigner:
    """A key and the certificate the CSCA issued for it: what `sod.build_sod` signs with."""

    key: SigningKey
    certificate: bytes  # DER

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)


class SoftwareKey:
    def __init__(self, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self._key = key or ec.generate_private_key(ec.SECP256R1())

    def public_key_info(self) -> bytes:
        return self._key.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


class TokenError(RuntimeError):
    """The token is missing, locked or lacks the key; the message says which, never the PIN."""


# One lock for every use of a PKCS#11 token in the process. A PKCS#11 login belongs to the
# application, not the session: closing one session logs every other one out, and a second
# login while one is open fails (UserAlreadyLoggedIn). Two prints signing at once on a threaded
# server made SoftHSM2 fail or crash the process, so sessions are opened, used and closed one at
# a time. A signature takes a few milliseconds: the lock costs a print room nothing.
_TOKEN_LOCK = threading.RLock()


def find_module(configured: str | None = None) -> str | None:
    candidates = [configured] if configured else list(DEFAULT_MODULES)
    return next((c for c in candidates if c and Path(c).is_file()), None)


class Pkcs11Key:
    """An EC P-256 key in a PKCS#11 token, found by its label. The token hashes nothing: SoftHSM2
    and most HSMs sign a SHA-256 digest with plain CKM_ECDSA, so the digest is made here."""

    def __init__(self, *, module: str, token_label: str, pin: str, key_label: str) -> None:
        self.module, self.token_label, self._pin, self.key_label = module, token_label, pin, key_label

    @contextmanager
    def _session(self) -> Iterator:
        """A logged-in session, held under the process's token lock until the block ends; any
        PKCS#11 failure inside it becomes a TokenError that names its kind, never the PIN."""
        import pkcs11
        with _TOKEN_LOCK:
            try:
                token = _library(self.module).get_token(token_label=self.token_label)
                with token.open(user_pin=self._pin, rw=True) as session:
                    yield session
            except pkcs11.exceptions.NoSuchToken:
                raise TokenError(f"no PKCS#11 token labelled {self.token_label!r}") from None
            except pkcs11.exceptions.PinIncorrect:
                raise TokenError(f"the PIN of token {self.token_label!r} is wrong") from None
            except pkcs11.exceptions.PKCS11Error as e:
                raise TokenError(f"the PKCS#11 token failed ({type(e).__name__})") from None

    def generate(self) -> bytes:
        """Generate the key pair inside the token (never extractable) and return its public key."""
        import pkcs11
        from pkcs11.util.ec import encode_named_curve_parameters
        with self._session() as session:
            if list(session.get_objects({pkcs11.Attribute.LABEL: self.key_label,
                                         pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY})):
                raise TokenError(f"the token already holds a key labelled {self.key_label!r}")
            params = session.create_domain_parameters(pkcs11.KeyType.EC, {
                pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
            params.generate_keypair(store=True, label=self.key_label, private_template={
                pkcs11.Attribute.SENSITIVE: True, pkcs11.Attribute.EXTRACTABLE: False})
        return self.public_key_info()

    def public_key_info(self) -> bytes:
        import pkcs11
        from pkcs11.util.ec import encode_ec_public_key
        with self._session() as session:
            pub = self._one(session, pkcs11.ObjectClass.PUBLIC_KEY)
            return encode_ec_public_key(pub)

    def sign(self, data: bytes) -> bytes:
        import pkcs11
        from pkcs11.util.ec import encode_ecdsa_signature
        with self._session() as session:
            priv = self._one(session, pkcs11.ObjectClass.PRIVATE_KEY)
            raw = priv.sign(hashlib.sha256(data).digest(), mechanism=pkcs11.Mechanism.ECDSA)
        return encode_ecdsa_signature(raw)

    def is_extractable(self) -> bool:
        import pkcs11
        with self._session() as session:
            priv = self._one(session, pkcs11.ObjectClass.PRIVATE_KEY)
            # ALWAYS_SENSITIVE and NEVER_EXTRACTABLE: the key was never out of the token, not
            # merely made sensitive after someone could have copied it.
            return (bool(priv[pkcs11.Attribute.EXTRACTABLE]) or not bool(priv[pkcs11.Attribute.SENSITIVE])
                    or not bool(priv[pkcs11.Attribute.ALWAYS_SENSITIVE])
                    or not bool(priv[pkcs11.Attribute.NEVER_EXTRACTABLE]))

    def _one(self, session, cls):  # noqa: ANN001, ANN202
        import pkcs11
        found = list(session.get_objects({pkcs11.Attribute.LABEL: self.key_label, pkcs11.Attribute.CLASS: cls}))
        if len(found) != 1:
            raise TokenError(f"the token holds {len(found)} keys labelled {self.key_label!r}, needs one")
        return found[0]


_loaded_conf: list[str | None] = []


def _library(module: str):  # noqa: ANN202
    """python-pkcs11 loads one module per process and SoftHSM2 reads SOFTHSM2_CONF only when
    initialised: re-initialise when the configuration changed (a test or the demo switching
    token folders), so that a process never signs with another folder's token by mistake."""
    import pkcs11
    lib = pkcs11.lib(module)
    conf = os.environ.get("SOFTHSM2_CONF")
    if _loaded_conf and _loaded_conf[0] != conf:
        lib.reinitialize()
    _loaded_conf[:] = [conf]
    return lib


def certificate_request(key: SigningKey, *, office_code: str) -> bytes:
    """A PKCS#10 request (PEM) for `key`, signed by the key itself: the CSCA's proof that the
    office holds the private key it asks a certificate for."""
    info = acsr.CertificationRequestInfo({
        "version": "v1",
        "subject": ax509.Name.build({"country_name": "ID", "organizational_unit_name": office_code,
                                     "common_name": f"Document Signer {office_code}"}),
        "subject_pk_info": akeys.PublicKeyInfo.load(key.public_key_info()),
        "attributes": [],
    })
    req = acsr.CertificationRequest({
        "certification_request_info": info,
        "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature": key.sign(info.dump()),
    })
    from asn1crypto import pem
    return pem.armor("CERTIFICATE REQUEST", req.dump())
