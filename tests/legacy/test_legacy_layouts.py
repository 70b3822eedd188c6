"""Each system's export layout: what a row becomes, and every way a file or a row is refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from accounts.legacy.layouts import (
    FIXED,
    LAYOUTS,
    MAX_BYTES,
    MOBILE,
    TV,
    ImportRefused,
    ServiceRow,
)
from accounts.legacy.services import SAMPLES

DATA = Path(__file__).resolve().parents[1] / "data" / "legacy"

MOBILE_HEADER = ("CUST_ID;CUST_NAME;REG_NO;VAT;ADDR;ZIP;CITY;CC;BAN;SUB_ID;TARIFF;TARIFF_NAME;"
                 "QTY;STATUS;ACT_DATE;TERM_M;MRC")
MOBILE_ROW = ("M1;Stark Logistik GmbH;HRB 98765;DE298765432;Hafenstraße 1;28195;Bremen;DE;"
              "B1;S1;mob-unl;Business Mobile Unlimited;1;ACT;01.03.2022;24;1.025,50")


def _mobile(*rows: str) -> bytes:
    return ("\r\n".join([MOBILE_HEADER, *rows]) + "\r\n").encode()


def _refusal(layout, data: bytes) -> ImportRefused:
    with pytest.raises(ImportRefused) as caught:
        layout.parse(data, "export.csv")
    return caught.value


def test_a_mobile_row_becomes_an_account_with_its_service_and_site():
    parsed = MOBILE.parse(_mobile(MOBILE_ROW), "export.csv")
    assert parsed.rows == 1
    [account] = parsed.accounts
    assert (account.customer_id, account.name, account.registration, account.vat) == (
        "M1", "Stark Logistik GmbH", "HRB98765", "DE298765432")
    assert (account.street, account.postcode, account.city, account.country) == (
        "Hafenstraße 1", "28195", "Bremen", "DE")
    [service] = account.services
    assert service.service_id == "S1" and service.offering == "MOB-UNL"
    assert service.status == "active" and service.quantity == 1 and service.term == 24
    assert service.start_date == dt.date(2022, 3, 1)
    assert service.monthly_charge == Decimal("1025.50")  # decimal comma, thousands dot
    assert service.billing_account == "B1" and service.line == 2


def test_a_fixed_row_has_its_site_reference_and_quoted_fields():
    header = ",".join(FIXED.columns)
    row = ('F1,Stark Logistik,HRB 98765,,LOC-1,Bremen port,"Hafenstr. 1, Halle 3",28195,'
           'Bremen,UK,L1,FIB-1G,"Business Fibre, 1 Gbit/s",1,in service,2022-03-01,36,FB1,349.00')
    [account] = FIXED.parse(f"{header}\n{row}\n".encode(), "f.csv").accounts
    [service] = account.services
    assert account.country == "GB"  # the fixed system writes UK
    assert service.site.ref == "LOC-1" and service.site.name == "Bremen port"
    assert service.site.street == "Hafenstr. 1, Halle 3"
    assert service.description == "Business Fibre, 1 Gbit/s"
    assert service.monthly_charge == Decimal("349.00")


def test_a_tv_row_joins_street_and_house_number_and_reads_country_names():
    header = "|".join(TV.columns)
    row = ("T1|Bäckerei Müller||Marktplatz|7|04109|Leipzig|Deutschland|C1|TV-LOBBY-HD|"
           "Lobby TV HD|3|paused|20230105|12|TVB-1")
    [account] = TV.parse(f"\ufeff{header}\n{row}\n".encode(), "t.csv").accounts  # with BOM
    [service] = account.services
    assert account.street == "Marktplatz 7" and account.country == "DE"
    assert account.registration == "" and account.vat == ""
    assert service.status == "suspended" and service.quantity == 3
    assert service.start_date == dt.date(2023, 1, 5) and service.monthly_charge is None


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_the_shipped_samples_parse(layout):
    parsed = layout.parse((SAMPLES / layout.sample).read_bytes(), layout.sample)
    assert parsed.rows == sum(len(a.services) for a in parsed.accounts)
    assert len(parsed.accounts) >= 4


def test_rows_of_one_account_are_grouped_in_file_order():
    second = MOBILE_ROW.replace(";S1;", ";S2;").replace("Hafenstraße 1", "Domshof 8")
    [account] = MOBILE.parse(_mobile(MOBILE_ROW, "", second), "e.csv").accounts
    assert [s.service_id for s in account.services] == ["S1", "S2"]
    assert account.street == "Hafenstraße 1"  # the first row's address
    assert account.services[1].line == 4  # the blank line counts


def test_held_rows_survive_json():
    [account] = MOBILE.parse(_mobile(MOBILE_ROW), "e.csv").accounts
    service = account.services[0]
    assert ServiceRow.from_json(service.to_json()) == service


BAD_ROWS = [
    (MOBILE_ROW.replace("01.03.2022", "31.02.2022"), "ACT_DATE '31.02.2022' is not a date "
                                                     "(DD.MM.YYYY)"),
    (MOBILE_ROW.replace("01.03.2022", "2022-03-01"), "is not a date (DD.MM.YYYY)"),
    (MOBILE_ROW.replace(";ACT;", ";XYZ;"), "STATUS 'XYZ' is not a known status (ACT, SUS, BAR, "
                                           "TRM)"),
    (MOBILE_ROW.replace("Unlimited;1;", "Unlimited;0;"), "QTY 0 is not between 1 and 100000"),
    (MOBILE_ROW.replace("Unlimited;1;", "Unlimited;one;"), "QTY 'one' is not a whole number"),
    (MOBILE_ROW.replace(";24;", ";121;"), "TERM_M 121 is not between 0 and 120"),
    (MOBILE_ROW.replace("1.025,50", "lots"), "MRC 'lots' is not an amount"),
    (MOBILE_ROW.replace("1.025,50", "-5,00"), "MRC '-5,00' is not an amount"),
    (MOBILE_ROW.replace(";DE298765432;", ";DE 29$87;"), "VAT 'DE 29$87' is not a VAT number"),
    (MOBILE_ROW.replace(";HRB 98765;", ";HRB#98765;"), "REG_NO 'HRB#98765' is not a "
                                                       "registration number"),
    (MOBILE_ROW.replace(";Bremen;DE;", ";Bremen;Atlantis;"), "country 'Atlantis' is not one"),
    (MOBILE_ROW.replace(";Stark Logistik GmbH;", ";;"), "CUST_NAME is empty"),
    (MOBILE_ROW.replace(";S1;", ";;"), "SUB_ID is empty"),
    (MOBILE_ROW.replace(";28195;", ";;"), "ZIP is empty"),
    (MOBILE_ROW.replace(";S1;", f";{'S' * 65};"), "SUB_ID is longer than 64 characters"),
    (MOBILE_ROW.rsplit(";", 3)[0], "has 14 fields, the header has 17"),
    (MOBILE_ROW + ";extra", "has 18 fields, the header has 17"),
]


@pytest.mark.parametrize("row,reason", BAD_ROWS)
def test_a_bad_row_refuses_the_file_naming_its_line_and_reason(row, reason):
    refusal = _refusal(MOBILE, _mobile(MOBILE_ROW.replace(";S1;", ";S0;"), row))
    assert len(refusal.problems) == 1
    line, problem = refusal.problems[0]
    assert line == 3
    assert reason in problem
    assert "nothing was changed" in refusal.message


def test_a_service_id_twice_in_the_file_is_refused():
    refusal = _refusal(MOBILE, _mobile(MOBILE_ROW, MOBILE_ROW))
    assert refusal.problems == [(3, "service S1 is also on line 2")]


def test_an_account_described_two_ways_is_refused():
    other = MOBILE_ROW.replace(";S1;", ";S2;").replace("Stark Logistik GmbH", "Stark AG")
    refusal = _refusal(MOBILE, _mobile(MOBILE_ROW, other))
    assert refusal.problems == [
        (3, "customer M1 is named 'Stark Logistik GmbH' on line 2 but 'Stark AG' here")]


def test_every_bad_row_of_a_file_is_listed():
    refusal = _refusal(MOBILE, (DATA / "mobile-bss-bad-rows.csv").read_bytes())
    assert [line for line, _ in refusal.problems] == list(range(3, 14))
    assert refusal.message.startswith("export.csv was not imported: 11 bad rows")
    assert "line 3: ACT_DATE '31.02.2021' is not a date (DD.MM.YYYY)" in refusal.lines()


def test_a_file_of_another_system_is_refused_and_named():
    refusal = _refusal(MOBILE, (SAMPLES / FIXED.sample).read_bytes())
    assert "is not a mobile BSS export" in refusal.message
    assert "It looks like a fixed/broadband BSS export (fixed-bss)" in refusal.message
    assert "CUST_ID" in refusal.message and refusal.problems == []


def test_the_right_columns_with_the_wrong_separator_are_refused():
    data = (SAMPLES / MOBILE.sample).read_bytes().replace(b";", b",")
    refusal = _refusal(MOBILE, data)
    assert "It looks like a mobile BSS export" not in refusal.message
    assert "separated by semicolons" in refusal.message


@pytest.mark.parametrize("data,message", [
    (b"", "export.csv is empty."),
    (b"  \r\n", "export.csv is empty."),
    (MOBILE_HEADER.encode() + b"\r\n", "export.csv has a header but no rows."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "export.csv is not a text file (CSV)."),
    (_mobile(MOBILE_ROW).replace("ß".encode(), "ß".encode("latin-1")),
     "export.csv is not UTF-8 text (the first bad byte is on line 2); export it as UTF-8."),
    (MOBILE_HEADER.encode() + b'\r\nM1;"unterminated\r\n',
     "export.csv is not a readable mobile BSS export"),
])
def test_empty_binary_wrongly_encoded_or_broken_files_are_refused(data, message):
    assert message in _refusal(MOBILE, data).message


def test_a_huge_file_is_refused_before_it_is_read():
    data = _mobile(MOBILE_ROW) + b"x" * MAX_BYTES
    assert "larger than 5 MB" in _refusal(MOBILE, data).message


def test_too_many_rows_are_refused(monkeypatch):
    monkeypatch.setattr("accounts.legacy.layouts.MAX_ROWS", 2)
    rows = [MOBILE_ROW.replace(";S1;", f";S{n};") for n in range(3)]
    assert "more than 2 rows" in _refusal(MOBILE, _mobile(*rows)).message
