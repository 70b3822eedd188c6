"""Normalisation and similarity: the same company and the same place, however spelled."""

from __future__ import annotations

import pytest

from accounts.legacy.matching import (
    PROPOSE_AT,
    Identity,
    address_key,
    conflicts,
    name_similarity,
    normalise_name,
    normalise_postcode,
    normalise_registration,
    normalise_street,
    normalise_vat,
    registration_key,
    similarity,
)


@pytest.mark.parametrize("raw,country,expected", [
    ("DE811234567", "DE", "DE811234567"),
    ("DE 811 234 567", "DE", "DE811234567"),
    ("811234567", "DE", "DE811234567"),          # the TV system drops the prefix
    ("811.234.567", "DE", "DE811234567"),
    ("FR 40 732829320", "FR", "FR40732829320"),
    ("NL 8123.45.678.B01", "NL", "NL812345678B01"),
    ("gb123-4567-89", "GB", "GB123456789"),
    ("094259216", "GR", "EL094259216"),          # Greece's VAT prefix is EL
    ("", "DE", ""),
    ("  ", "DE", ""),
])
def test_vat_numbers_are_normalised_with_their_country_prefix(raw, country, expected):
    assert normalise_vat(raw, country) == expected


@pytest.mark.parametrize("raw,expected", [
    ("HRB 123456", "HRB123456"),
    ("hrb123.456", "HRB123456"),
    ("34-12-34-56", "34123456"),
    ("732 829 320", "732829320"),
    ("04567890", "04567890"),
    ("", ""),
])
def test_registration_numbers_lose_their_separators(raw, expected):
    assert normalise_registration(raw) == expected


def test_registration_numbers_are_keyed_by_country():
    assert registration_key("HRB 123456", "de") == "DE:HRB123456"
    assert registration_key("HRB 123456", "DE") != registration_key("HRB123456", "AT")
    assert registration_key("", "DE") == ""


@pytest.mark.parametrize("name,expected", [
    ("ACME Industries GmbH", "acme industries"),
    ("Acme Industries GmbH & Co. KG", "acme industries"),
    ("Globex Corporation Ltd", "globex"),
    ("Initech S.A.S.", "initech"),
    ("Hooli B.V.", "hooli"),
    ("Bäckerei Müller", "baeckerei mueller"),
    ("Société Générale SA", "societe generale"),
    ("The Limited Company Ltd", "the limited company ltd"),  # nothing but legal words: kept
])
def test_names_lose_legal_forms_case_accents_and_punctuation(name, expected):
    assert normalise_name(name) == expected


SAME_COMPANY = [
    ("ACME Industries GmbH", "Acme Industries"),
    ("ACME Industries GmbH", "Acme Ind."),
    ("Globex Corporation Ltd", "GLOBEX CORP"),
    ("Initech SAS", "INITECH"),
    ("Initech SAS", "Initech S.A.S."),
    ("Hooli B.V.", "Hooli"),
    ("Bäckerei Müller", "Baeckerei Mueller GmbH"),
    ("Acme Industries", "Acme Industires"),          # a typo
    ("Intl Widgets Ltd", "International Widgets"),   # a known abbreviation
]
OTHER_COMPANIES = [
    ("Initech SAS", "Initrode SAS"),
    ("Stark Industries", "Acme Industries"),          # only the generic word is shared
    ("Müller Logistik", "Meyer Logistik"),
    ("Acme France SAS", "ACME Industries GmbH"),
    ("Globex", "Hooli"),
]


@pytest.mark.parametrize("a,b", SAME_COMPANY)
def test_names_of_the_same_company_are_alike(a, b):
    assert name_similarity(a, b) >= 0.85
    assert name_similarity(b, a) >= 0.85


@pytest.mark.parametrize("a,b", OTHER_COMPANIES)
def test_names_of_other_companies_are_not(a, b):
    assert name_similarity(a, b) < 0.6


@pytest.mark.parametrize("spellings", [
    ("Hauptstraße 5", "Hauptstr. 5", "Hauptstrasse 5", "Hauptstrasse  5", "HAUPTSTR 5"),
    ("Große Elbstraße 27", "Grosse Elbstr. 27"),
    ("Mainzer Landstraße 50", "Mainzer Landstr. 50"),
    ("12 Rue de la Paix", "12, rue de la Paix", "Rue de la Paix 12"),
    ("45 Rue de la République", "45 rue de la Republique"),
    ("1 Canada Square", "1 Canada Sq.", "Canada Square 1"),
    ("8 Place Rihour", "8 Pl. Rihour"),
    ("Keizersgracht 123a", "Keizersgracht 123 A"),
])
def test_street_spellings_of_one_place_are_equal(spellings):
    assert len({normalise_street(s) for s in spellings}) == 1


@pytest.mark.parametrize("a,b", [
    ("Hauptstraße 5", "Hauptstraße 7"),
    ("Hauptstraße 5", "Nebenstraße 5"),
    ("Keizersgracht 123", "Keizersgracht 123a"),
])
def test_other_places_stay_apart(a, b):
    assert normalise_street(a) != normalise_street(b)


def test_an_address_key_includes_country_and_postcode():
    assert address_key("Hauptstr. 5", "80331", "de") == address_key("Hauptstraße 5", "80331",
                                                                     "DE")
    assert address_key("Hauptstr. 5", "80331", "DE") != address_key("Hauptstr. 5", "80333", "DE")
    assert address_key("Hauptstr. 5", "80331", "DE") != address_key("Hauptstr. 5", "80331", "AT")
    assert normalise_postcode("e14 5ab") == normalise_postcode("E145AB") == "E145AB"


def _identity(name, postcodes=(), vat="", registration=""):
    identity = Identity()
    identity.add(name=name, vat=vat, registration=registration, postcodes=postcodes)
    return identity


def test_a_look_alike_with_a_shared_postcode_scores_above_the_threshold():
    score, reasons = similarity(_identity("INITECH", ["75002"]),
                                _identity("Initech SAS", ["75002", "69002"]))
    assert score >= PROPOSE_AT
    assert any("same postcode 75002" in r for r in reasons)
    assert any("alike" in r for r in reasons)


def test_a_shared_postcode_proves_nothing_when_the_names_differ():
    score, _ = similarity(_identity("Stark Logistik", ["10117"]),
                          _identity("Acme Industries", ["10117"]))
    assert score < PROPOSE_AT


def test_different_vat_numbers_mean_different_companies_whatever_the_names():
    mine = _identity("Acme Industries", ["80331"], vat="DE811234567")
    theirs = _identity("Acme Industries GmbH", ["80331"], vat="DE999999999")
    assert conflicts(mine, theirs) == ["VAT numbers differ"]
    assert similarity(mine, theirs)[0] == 0.0
    assert similarity(mine, theirs, check_identifiers=False)[0] >= PROPOSE_AT


def test_registration_numbers_only_conflict_within_one_country():
    german = _identity("Acme", registration="DE:HRB1")
    austrian = _identity("Acme", registration="AT:FN1")
    assert conflicts(german, austrian) == []
    assert conflicts(german, _identity("Acme", registration="DE:HRB2")) == [
        "registration numbers differ"]
