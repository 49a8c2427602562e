"""Passport kinds, application types, validity, fees and the document checklist.

Paspor biasa is the ordinary booklet; paspor elektronik (e-paspor) adds a chip holding the face
image and fingerprints. Fees follow PP 45/2024 (Peraturan Pemerintah, the government regulation
on non-tax state revenue of the Ministry of Law and Human Rights) but live in a table the office
can update: this module only computes with whatever schedule it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from kanim.domain.errors import InvalidInput

ADULT_AGE = 17  # 10-year validity from this age (since October 2022); also the KTP age


class PassportKind(StrEnum):
    ORDINARY = "ordinary"
    ELECTRONIC = "electronic"


class ApplicationType(StrEnum):
    NEW = "new"
    RENEWAL = "renewal"
    REPLACEMENT_LOST = "replacement_lost"
    REPLACEMENT_DAMAGED = "replacement_damaged"


KIND_LABELS: Mapping[PassportKind, str] = MappingProxyType({
    PassportKind.ORDINARY: "Ordinary passport",
    PassportKind.ELECTRONIC: "Electronic passport",
})
APPLICATION_LABELS: Mapping[ApplicationType, str] = MappingProxyType({
    ApplicationType.NEW: "New passport",
    ApplicationType.RENEWAL: "Renewal",
    ApplicationType.REPLACEMENT_LOST: "Replacement of a lost passport",
    ApplicationType.REPLACEMENT_DAMAGED: "Replacement of a damaged passport",
})


# ---------------------------------------------------------------------------------------------
# Age, validity, expiry


def age_on(birth_date: date, on: date) -> int:
    """Completed years of age on `on`. Someone born on 29 February turns a year older on
    1 March in non-leap years (the birthday has not yet happened on 28 February)."""
    if on < birth_date:
        raise InvalidInput(
            f"Cannot compute an age on {on.isoformat()}, before the birth date "
            f"{birth_date.isoformat()}.",
            code="age-before-birth",
        )
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def validity_years(birth_date: date, issue_date: date) -> int:
    """10 years if the holder is 17 or older on the issue date, else 5.

    This is the rule since October 2022 (before then every passport was valid for 5 years);
    documents issued earlier keep the validity they were issued with.
    """
    return 10 if age_on(birth_date, issue_date) >= ADULT_AGE else 5


def expiry_date(issue_date: date, validity_years: int) -> date:
    """The same calendar day `validity_years` later; 29 February becomes 28 February.

    Assumption: whether Indonesian passports expire on the anniversary or the day before could
    not be confirmed; we use the anniversary. Change it here, in one place, if that proves wrong.
    """
    if validity_years <= 0:
        raise InvalidInput(f"Validity must be a positive number of years, not {validity_years}.",
                           code="validity-invalid")
    year = issue_date.year + validity_years
    try:
        return issue_date.replace(year=year)
    except ValueError:  # 29 February into a non-leap year
        return date(year, 2, 28)


# ---------------------------------------------------------------------------------------------
# Fees


# The largest fee the office may set (rupiah; today's fees are below 2 million). A quote adds a
# booklet fee and a surcharge into the application's fee_total, a 32-bit column on PostgreSQL:
# two fees at this limit still fit it.
FEE_MAX = 1_000_000_000


@dataclass(frozen=True)
class FeeSchedule:
    """Fees in rupiah: the booklet fee by (kind, validity years), and a surcharge by application
    type. Every application type needs an entry (0 for none), so that a table missing the
    lost-passport row refuses to quote instead of silently undercharging."""

    passport: Mapping[tuple[PassportKind, int], int]
    surcharge: Mapping[ApplicationType, int]

    def __post_init__(self) -> None:
        for key, amount in [*self.passport.items(), *self.surcharge.items()]:
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
                raise InvalidInput(f"Fee for {key!r} must be a whole, non-negative number of "
                                   f"rupiah, not {amount!r}.", code="fee-invalid")

    @classmethod
    def from_rows(
        cls,
        passport_rows: Iterable[tuple[str, int, int]],
        surcharge_rows: Iterable[tuple[str, int]],
    ) -> FeeSchedule:
        """Build a schedule from table rows: (kind, validity_years, rupiah) and
        (application_type, rupiah), with kinds and types as their string values."""
        try:
            passport = {(PassportKind(k), int(y)): a for k, y, a in passport_rows}
            surcharge = {ApplicationType(t): a for t, a in surcharge_rows}
        except ValueError as e:
            raise InvalidInput(f"Fee table has an unknown value: {e}.", code="fee-invalid") from e
        return cls(passport=MappingProxyType(passport), surcharge=MappingProxyType(surcharge))


DEFAULT_FEES = FeeSchedule(
    passport=MappingProxyType({
        (PassportKind.ORDINARY, 5): 350_000,
        (PassportKind.ORDINARY, 10): 650_000,
        (PassportKind.ELECTRONIC, 5): 650_000,
        (PassportKind.ELECTRONIC, 10): 950_000,
    }),
    surcharge=MappingProxyType({
        ApplicationType.NEW: 0,
        ApplicationType.RENEWAL: 0,
        ApplicationType.REPLACEMENT_LOST: 1_000_000,
        ApplicationType.REPLACEMENT_DAMAGED: 500_000,
    }),
)


@dataclass(frozen=True)
class FeeQuote:
    """What an applicant pays, with one line per charge (surcharge line only if non-zero)."""

    base: int
    surcharge: int
    total: int
    lines: list[tuple[str, int]] = field(default_factory=list)


def fee_for(
    schedule: FeeSchedule,
    *,
    kind: PassportKind,
    validity_years: int,
    app_type: ApplicationType,
) -> FeeQuote:
    """Quote the fee. Decision: the lost/damaged replacement amounts (the "beban" for losing or
    damaging a passport) are charged IN ADDITION to the fee for the new booklet, since the
    applicant still receives a new passport. Raises fee-missing when the schedule has no entry.
    """
    kind, app_type = PassportKind(kind), ApplicationType(app_type)
    try:
        base = schedule.passport[(kind, validity_years)]
    except KeyError:
        raise InvalidInput(f"The fee schedule has no fee for a {kind.value} passport valid "
                           f"{validity_years} years.", code="fee-missing") from None
    try:
        surcharge = schedule.surcharge[app_type]
    except KeyError:
        raise InvalidInput(f"The fee schedule has no entry for application type "
                           f"{app_type.value}.", code="fee-missing") from None
    lines = [(f"{KIND_LABELS[kind]}, {validity_years} years", base)]
    if surcharge:
        lines.append((APPLICATION_LABELS[app_type], surcharge))
    return FeeQuote(base=base, surcharge=surcharge, total=base + surcharge, lines=lines)


# ---------------------------------------------------------------------------------------------
# Document checklist


class DocumentKind(StrEnum):
    KTP = "ktp"  # Kartu Tanda Penduduk, the identity card (from age 17)
    KK = "kk"  # Kartu Keluarga, the family card listing a household
    BIRTH_CERTIFICATE = "birth_certificate"  # akta kelahiran
    MARRIAGE_CERTIFICATE = "marriage_certificate"  # buku nikah / akta perkawinan
    DIPLOMA = "diploma"  # ijazah
    BAPTISM_LETTER = "baptism_letter"  # surat baptis
    OLD_PASSPORT = "old_passport"  # also the damaged passport itself, for that replacement
    POLICE_REPORT = "police_report"  # surat keterangan hilang from the police, for a lost one
    NAME_CHANGE_DECREE = "name_change_decree"  # court decision on a change of name


DOCUMENT_LABELS: Mapping[DocumentKind, str] = MappingProxyType({
    DocumentKind.KTP: "KTP (identity card)",
    DocumentKind.KK: "KK (family card)",
    DocumentKind.BIRTH_CERTIFICATE: "birth certificate",
    DocumentKind.MARRIAGE_CERTIFICATE: "marriage certificate",
    DocumentKind.DIPLOMA: "diploma",
    DocumentKind.BAPTISM_LETTER: "baptism letter",
    DocumentKind.OLD_PASSPORT: "old passport",
    DocumentKind.POLICE_REPORT: "police report of the loss",
    DocumentKind.NAME_CHANGE_DECREE: "name-change decree",
})


@dataclass(frozen=True)
class Requirement:
    """One checklist line, met when ANY of `any_of` is present."""

    key: str
    description: str
    any_of: frozenset[DocumentKind]

    def met_by(self, present: Iterable[DocumentKind]) -> bool:
        return not self.any_of.isdisjoint(present)


def _one(key: str, kind: DocumentKind, description: str | None = None) -> Requirement:
    return Requirement(key, description or DOCUMENT_LABELS[kind], frozenset({kind}))


KTP = _one("ktp", DocumentKind.KTP)
KK = _one("kk", DocumentKind.KK)
_PROOF_KINDS = (DocumentKind.BIRTH_CERTIFICATE, DocumentKind.MARRIAGE_CERTIFICATE,
                DocumentKind.DIPLOMA, DocumentKind.BAPTISM_LETTER)
IDENTITY_PROOF = Requirement(
    "identity_proof",
    "one of: " + ", ".join(DOCUMENT_LABELS[k] for k in _PROOF_KINDS),
    frozenset(_PROOF_KINDS),
)
BIRTH_CERTIFICATE = _one("birth_certificate", DocumentKind.BIRTH_CERTIFICATE)
OLD_PASSPORT = _one("old_passport", DocumentKind.OLD_PASSPORT)
DAMAGED_PASSPORT = _one("damaged_passport", DocumentKind.OLD_PASSPORT, "the damaged passport")
POLICE_REPORT = _one("police_report", DocumentKind.POLICE_REPORT)
NAME_CHANGE_DECREE = _one("name_change_decree", DocumentKind.NAME_CHANGE_DECREE)

# What each application type needs beyond proof of identity.
_SPECIFIC: Mapping[ApplicationType, tuple[Requirement, ...]] = MappingProxyType({
    ApplicationType.NEW: (),
    ApplicationType.RENEWAL: (OLD_PASSPORT,),
    ApplicationType.REPLACEMENT_LOST: (POLICE_REPORT,),
    ApplicationType.REPLACEMENT_DAMAGED: (DAMAGED_PASSPORT,),
})
_ADULT_IDENTITY = (KTP, KK, IDENTITY_PROOF)
# A minor (under 17) has no KTP yet: the KK and their own birth certificate stand in for the KTP
# and the identity proof. Simplification: the parents' KTPs and consent, which offices also ask
# for, are not modelled here.
_MINOR_IDENTITY = (KK, BIRTH_CERTIFICATE)

# The checklist for an adult (17 or over) whose name has not changed, in the order staff check
# it; `requirements_for` gives the adjusted list for minors and changed names.
REQUIRED_GROUPS: Mapping[ApplicationType, tuple[Requirement, ...]] = MappingProxyType(
    {t: _ADULT_IDENTITY + _SPECIFIC[t] for t in ApplicationType}
)


def requirements_for(
    app_type: ApplicationType, *, name_changed: bool = False, minor: bool = False
) -> tuple[Requirement, ...]:
    """The checklist for one application, adjusted for minors and changed names."""
    identity = _MINOR_IDENTITY if minor else _ADULT_IDENTITY
    extra = (NAME_CHANGE_DECREE,) if name_changed else ()
    return identity + _SPECIFIC[ApplicationType(app_type)] + extra


def missing_documents(
    app_type: ApplicationType,
    present: set[DocumentKind],
    *,
    name_changed: bool = False,
    minor: bool = False,
) -> list[str]:
    """Descriptions of the checklist lines not met by `present`, in checklist order;
    an empty list means the file is complete."""
    present = {DocumentKind(k) for k in present}
    return [r.description for r in requirements_for(app_type, name_changed=name_changed,
                                                    minor=minor) if not r.met_by(present)]
