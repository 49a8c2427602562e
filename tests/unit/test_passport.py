from __future__ import annotations

from datetime import date

import pytest

from kanim.domain.errors import InvalidInput
from kanim.domain.passport import (
    DEFAULT_FEES,
    REQUIRED_GROUPS,
    ApplicationType,
    DocumentKind,
    FeeQuote,
    FeeSchedule,
    PassportKind,
    age_on,
    expiry_date,
    fee_for,
    missing_documents,
    requirements_for,
    validity_years,
)

D = DocumentKind
ADULT_NEW = {D.KTP, D.KK, D.BIRTH_CERTIFICATE}
PROOF = "one of: birth certificate, marriage certificate, diploma, baptism letter"

# --- age and validity ---------------------------------------------------------------------


def test_age_increases_on_the_birthday_not_before():
    born = date(2007, 6, 20)
    assert age_on(born, date(2024, 6, 19)) == 16
    assert age_on(born, date(2024, 6, 20)) == 17


def test_age_is_zero_on_the_day_of_birth():
    assert age_on(date(2024, 1, 1), date(2024, 1, 1)) == 0


def test_someone_born_on_29_february_ages_on_1_march_in_common_years():
    born = date(2008, 2, 29)
    assert age_on(born, date(2025, 2, 28)) == 16
    assert age_on(born, date(2025, 3, 1)) == 17
    assert age_on(born, date(2024, 2, 29)) == 16


def test_age_before_birth_is_refused():
    with pytest.raises(InvalidInput) as exc:
        age_on(date(2024, 1, 2), date(2024, 1, 1))
    assert exc.value.code == "age-before-birth"


def test_an_applicant_of_17_gets_ten_years():
    assert validity_years(date(2007, 6, 20), date(2024, 6, 20)) == 10


def test_an_applicant_one_day_short_of_17_gets_five_years():
    assert validity_years(date(2007, 6, 21), date(2024, 6, 20)) == 5


def test_a_child_gets_five_years():
    assert validity_years(date(2020, 1, 1), date(2024, 6, 20)) == 5


def test_a_pensioner_gets_ten_years():
    assert validity_years(date(1950, 1, 1), date(2024, 6, 20)) == 10


def test_expiry_is_the_same_calendar_day_years_later():
    assert expiry_date(date(2024, 6, 20), 10) == date(2034, 6, 20)
    assert expiry_date(date(2024, 6, 20), 5) == date(2029, 6, 20)


def test_expiry_of_a_passport_issued_on_29_february_falls_on_28_february():
    assert expiry_date(date(2024, 2, 29), 5) == date(2029, 2, 28)


def test_expiry_from_29_february_stays_on_29_february_when_that_year_is_leap():
    assert expiry_date(date(2024, 2, 29), 4) == date(2028, 2, 29)


@pytest.mark.parametrize("years", [0, -5])
def test_expiry_refuses_a_non_positive_validity(years):
    with pytest.raises(InvalidInput) as exc:
        expiry_date(date(2024, 1, 1), years)
    assert exc.value.code == "validity-invalid"


# --- fees ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,years,amount", [
    (PassportKind.ORDINARY, 5, 350_000),
    (PassportKind.ORDINARY, 10, 650_000),
    (PassportKind.ELECTRONIC, 5, 650_000),
    (PassportKind.ELECTRONIC, 10, 950_000),
])
def test_the_default_schedule_has_the_pp_45_2024_booklet_fees(kind, years, amount):
    quote = fee_for(DEFAULT_FEES, kind=kind, validity_years=years, app_type=ApplicationType.NEW)
    assert quote.base == quote.total == amount
    assert quote.surcharge == 0


def test_a_new_passport_quote_has_a_single_line():
    quote = fee_for(DEFAULT_FEES, kind=PassportKind.ELECTRONIC, validity_years=10,
                    app_type=ApplicationType.NEW)
    assert quote == FeeQuote(base=950_000, surcharge=0, total=950_000,
                             lines=[("Electronic passport, 10 years", 950_000)])


def test_a_renewal_costs_the_booklet_fee_only():
    quote = fee_for(DEFAULT_FEES, kind=PassportKind.ORDINARY, validity_years=10,
                    app_type=ApplicationType.RENEWAL)
    assert quote.total == 650_000


def test_replacing_a_lost_passport_adds_one_million_to_the_booklet_fee():
    quote = fee_for(DEFAULT_FEES, kind=PassportKind.ELECTRONIC, validity_years=10,
                    app_type=ApplicationType.REPLACEMENT_LOST)
    assert (quote.base, quote.surcharge, quote.total) == (950_000, 1_000_000, 1_950_000)
    assert quote.lines == [("Electronic passport, 10 years", 950_000),
                           ("Replacement of a lost passport", 1_000_000)]


def test_replacing_a_damaged_passport_adds_half_a_million_to_the_booklet_fee():
    quote = fee_for(DEFAULT_FEES, kind=PassportKind.ORDINARY, validity_years=5,
                    app_type=ApplicationType.REPLACEMENT_DAMAGED)
    assert (quote.base, quote.surcharge, quote.total) == (350_000, 500_000, 850_000)


def test_the_total_is_the_sum_of_the_lines():
    for kind in PassportKind:
        for years in (5, 10):
            for app_type in ApplicationType:
                q = fee_for(DEFAULT_FEES, kind=kind, validity_years=years, app_type=app_type)
                assert q.total == sum(amount for _, amount in q.lines) == q.base + q.surcharge


def test_it_quotes_from_an_updated_schedule():
    schedule = FeeSchedule.from_rows(
        [("ordinary", 5, 400_000), ("ordinary", 10, 700_000)],
        [(t.value, 0) for t in ApplicationType],
    )
    quote = fee_for(schedule, kind=PassportKind.ORDINARY, validity_years=10,
                    app_type=ApplicationType.NEW)
    assert quote.total == 700_000


def test_it_accepts_kind_and_type_as_plain_strings():
    quote = fee_for(DEFAULT_FEES, kind="ordinary", validity_years=5, app_type="replacement_lost")
    assert quote.total == 1_350_000


def test_it_refuses_to_quote_a_validity_the_schedule_lacks():
    with pytest.raises(InvalidInput) as exc:
        fee_for(DEFAULT_FEES, kind=PassportKind.ORDINARY, validity_years=7,
                app_type=ApplicationType.NEW)
    assert exc.value.code == "fee-missing"
    assert "ordinary" in exc.value.message and "7" in exc.value.message


def test_it_refuses_to_quote_a_kind_the_schedule_lacks():
    schedule = FeeSchedule.from_rows([("ordinary", 5, 350_000)], [("new", 0)])
    with pytest.raises(InvalidInput) as exc:
        fee_for(schedule, kind=PassportKind.ELECTRONIC, validity_years=5,
                app_type=ApplicationType.NEW)
    assert exc.value.code == "fee-missing"


def test_it_refuses_to_quote_when_the_application_type_has_no_row_rather_than_charge_nothing():
    schedule = FeeSchedule.from_rows([("ordinary", 5, 350_000)], [("new", 0)])
    with pytest.raises(InvalidInput) as exc:
        fee_for(schedule, kind=PassportKind.ORDINARY, validity_years=5,
                app_type=ApplicationType.REPLACEMENT_LOST)
    assert exc.value.code == "fee-missing"
    assert "replacement_lost" in exc.value.message


@pytest.mark.parametrize("amount", [-1, 1.5, "350000", True])
def test_a_schedule_refuses_amounts_that_are_not_whole_non_negative_rupiah(amount):
    with pytest.raises(InvalidInput) as exc:
        FeeSchedule(passport={(PassportKind.ORDINARY, 5): amount}, surcharge={})
    assert exc.value.code == "fee-invalid"


def test_a_schedule_from_rows_refuses_an_unknown_kind():
    with pytest.raises(InvalidInput) as exc:
        FeeSchedule.from_rows([("diplomatic", 5, 0)], [])
    assert exc.value.code == "fee-invalid"


def test_the_default_schedule_cannot_be_changed_in_place():
    with pytest.raises(TypeError):
        DEFAULT_FEES.passport[(PassportKind.ORDINARY, 5)] = 1  # type: ignore[index]


# --- document checklist ------------------------------------------------------------------


def test_a_complete_new_application_misses_nothing():
    assert missing_documents(ApplicationType.NEW, ADULT_NEW) == []


@pytest.mark.parametrize("proof", [D.BIRTH_CERTIFICATE, D.MARRIAGE_CERTIFICATE, D.DIPLOMA,
                                   D.BAPTISM_LETTER])
def test_any_one_identity_proof_will_do(proof):
    assert missing_documents(ApplicationType.NEW, {D.KTP, D.KK, proof}) == []


def test_an_empty_new_application_misses_ktp_kk_and_an_identity_proof_in_order():
    assert missing_documents(ApplicationType.NEW, set()) == [
        "KTP (identity card)", "KK (family card)", PROOF,
    ]


def test_a_renewal_needs_the_old_passport():
    assert missing_documents(ApplicationType.RENEWAL, ADULT_NEW) == ["old passport"]
    assert missing_documents(ApplicationType.RENEWAL, ADULT_NEW | {D.OLD_PASSPORT}) == []


def test_replacing_a_lost_passport_needs_a_police_report():
    assert missing_documents(ApplicationType.REPLACEMENT_LOST, ADULT_NEW) == [
        "police report of the loss"]
    assert missing_documents(ApplicationType.REPLACEMENT_LOST, ADULT_NEW | {D.POLICE_REPORT}) == []


def test_replacing_a_damaged_passport_needs_the_damaged_passport():
    assert missing_documents(ApplicationType.REPLACEMENT_DAMAGED, ADULT_NEW) == [
        "the damaged passport"]
    assert missing_documents(ApplicationType.REPLACEMENT_DAMAGED,
                             ADULT_NEW | {D.OLD_PASSPORT}) == []


def test_a_changed_name_needs_the_decree():
    assert missing_documents(ApplicationType.NEW, ADULT_NEW, name_changed=True) == [
        "name-change decree"]
    assert missing_documents(ApplicationType.NEW, ADULT_NEW | {D.NAME_CHANGE_DECREE},
                             name_changed=True) == []


def test_a_minor_needs_kk_and_birth_certificate_instead_of_ktp():
    assert missing_documents(ApplicationType.NEW, {D.KK, D.BIRTH_CERTIFICATE}, minor=True) == []
    assert missing_documents(ApplicationType.NEW, set(), minor=True) == [
        "KK (family card)", "birth certificate"]


def test_a_minors_diploma_does_not_replace_the_birth_certificate():
    assert missing_documents(ApplicationType.NEW, {D.KK, D.DIPLOMA}, minor=True) == [
        "birth certificate"]


def test_a_minor_renewing_still_needs_the_old_passport():
    assert missing_documents(ApplicationType.RENEWAL, {D.KK, D.BIRTH_CERTIFICATE},
                             minor=True) == ["old passport"]


def test_all_conditions_combine():
    assert missing_documents(ApplicationType.REPLACEMENT_LOST, set(), minor=True,
                             name_changed=True) == [
        "KK (family card)", "birth certificate", "police report of the loss",
        "name-change decree"]


def test_extra_documents_do_no_harm():
    assert missing_documents(ApplicationType.NEW, set(DocumentKind)) == []


def test_documents_may_be_given_as_plain_strings():
    assert missing_documents(ApplicationType.NEW, {"ktp", "kk", "diploma"}) == []


def test_the_checklist_covers_every_application_type_and_starts_with_identity():
    assert set(REQUIRED_GROUPS) == set(ApplicationType)
    for app_type, groups in REQUIRED_GROUPS.items():
        assert [g.key for g in groups[:3]] == ["ktp", "kk", "identity_proof"]
        assert requirements_for(app_type) == groups


def test_the_checklist_names_what_satisfies_each_line():
    proof = REQUIRED_GROUPS[ApplicationType.NEW][2]
    assert proof.description == PROOF
    assert proof.any_of == {D.BIRTH_CERTIFICATE, D.MARRIAGE_CERTIFICATE, D.DIPLOMA,
                            D.BAPTISM_LETTER}
