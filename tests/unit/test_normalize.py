"""The import rules (scrm/services/normalize*.py): good, dirty and bad values for every field."""

from __future__ import annotations

import pytest

from scrm.services import normalize as n
from scrm.services.errors import Invalid
from scrm.services.normalize import FieldError, Phone

EMPTY = [None, "", "   ", "\u3000", "\t\n", "\ufeff"]


def fails(rule: object, raw: object, message: str, **kwargs: object) -> FieldError:
    """Call the rule, expect a FieldError with `message`, and return it for more checks."""
    with pytest.raises(FieldError) as caught:
        rule(raw, **kwargs)  # type: ignore[operator]
    assert caught.value.message == message
    assert message % caught.value.params  # every placeholder has its parameter
    return caught.value


@pytest.mark.parametrize("rule", [n.phone, n.vin, n.plate, n.mileage, n.gender, n.person_name, n.money])
@pytest.mark.parametrize("raw", EMPTY)
def test_empty_is_missing_not_invalid(rule: object, raw: object) -> None:
    assert rule(raw) is None  # type: ignore[operator]
    assert n.parse_date(raw, "birthday") is None


def test_field_error_is_an_invalid_domain_error_with_field_and_params() -> None:
    error = fails(n.vin, "ABC", n.VIN_LENGTH)
    assert isinstance(error, Invalid)
    assert error.field == "vin"
    assert error.params == {"value": "ABC", "length": 3}
    assert fails(n.phone, "12345", n.NOT_PHONE, field="landline").field == "landline"


# --- phone ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "value"), [
    ("13812345678", "13812345678"),
    ("+86 138-1234-5678", "13812345678"),
    ("+8613812345678", "13812345678"),
    ("8613812345678", "13812345678"),
    ("86 138 1234 5678", "13812345678"),
    ("0086 13812345678", "13812345678"),
    ("0086-138-1234-5678", "13812345678"),
    ("１３８１２３４５６７８", "13812345678"),
    ("＋８６ １３８－１２３４－５６７８", "13812345678"),
    ("  139 0000 1111 ", "13900001111"),
    ("138—1234—5678", "13812345678"),
    ("\ufeff15912345678", "15912345678"),
    ("(+86) 186 1234 5678", "18612345678"),
    ("(86)13812345678", "13812345678"),
    ("17012345678", "17012345678"),
    ("19912345678", "19912345678"),
    (13812345678, "13812345678"),
    (13812345678.0, "13812345678"),
])
def test_mainland_mobiles(raw: object, value: str) -> None:
    assert n.phone(raw) == Phone("mobile", value)


@pytest.mark.parametrize(("raw", "value"), [
    ("021-58881234", "021-58881234"),
    ("02158881234", "021-58881234"),
    ("(021) 5888 1234", "021-58881234"),
    ("+86 21 5888 1234", "021-58881234"),
    ("0086 21 58881234", "021-58881234"),
    ("0571 8666 1234", "0571-86661234"),
    ("0571-86661234", "0571-86661234"),
    ("010-12345678", "010-12345678"),
    ("０２０－８７６５４３２１", "020-87654321"),
    ("0755 2345 6789", "0755-23456789"),
    ("+86 (21) 5888-1234", "021-58881234"),
    ("86-021-58881234", "021-58881234"),
    (2158881234, "021-58881234"),  # a number cell that lost its leading 0
])
def test_landlines_with_area_code(raw: object, value: str) -> None:
    assert n.phone(raw) == Phone("landline", value)


@pytest.mark.parametrize("raw", [
    "1381234567",  # 10 digits
    "138123456789",  # 12 digits
    "12812345678",  # 12x is not a mobile range
    "10086",
    "58881234",  # landline without area code
    "0755-2345678",  # Shenzhen numbers have 8 digits
    "400-820-8820",  # service numbers are not a customer's phone
    "+852 2345 6789",  # Hong Kong
    "+1 415 555 2671",
    "021-58881234-801",  # an extension
    "138-1234-567x",
    "1-800-FLOWERS",
    "手机13812345678",
    "1.3812345678E+10",  # a mobile that Excel turned into scientific notation
    "无",
    13812345678.5,
    True,
])
def test_not_a_phone(raw: object) -> None:
    error = fails(n.phone, raw, n.NOT_PHONE)
    assert error.field == "mobile"


@pytest.mark.parametrize("raw", ["13812345678/13912345678", "13812345678，13912345678", "13812345678、021-58881234",
                                 "13812345678; 13912345678"])
def test_two_numbers_in_one_cell(raw: str) -> None:
    fails(n.phone, raw, n.ONE_PHONE)


# --- VIN --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "value"), [
    ("1M8GDM9AXKP042788", "1M8GDM9AXKP042788"),  # check digit X
    ("11111111111111111", "11111111111111111"),
    ("JHMCM56557C404453", "JHMCM56557C404453"),
    ("1HGCM82633A004352", "1HGCM82633A004352"),
    ("LSVAB2BR0FN123456", "LSVAB2BR0FN123456"),
    ("lsvab2br0fn123456", "LSVAB2BR0FN123456"),
    (" LSVAB2BR0 FN123456 ", "LSVAB2BR0FN123456"),
    ("LSVAB-2BR0F-N1234-56", "LSVAB2BR0FN123456"),
    ("ＬＦＶ２Ａ２１Ｋ６Ｅ４１２３４５６", "LFV2A21K6E4123456"),
    ("LGBH52E01KY123456", "LGBH52E01KY123456"),
    ("LVSHCAMB1CE123456", "LVSHCAMB1CE123456"),
    ("LSGPC52U1AF123456", "LSGPC52U1AF123456"),
])
def test_valid_vins(raw: str, value: str) -> None:
    assert n.vin(raw) == value


@pytest.mark.parametrize(("raw", "expected", "actual"), [
    ("LSVAB2BR5FN123456", "0", "5"),
    ("LFV2A21K0E4123456", "6", "0"),
    ("1M8GDM9A1KP042788", "X", "1"),
    ("WP0ZZZ99ZTS392124", "8", "Z"),  # a European VIN without a check digit
    ("LSVAB2BR0FN123465", "1", "0"),  # two digits swapped
])
def test_vin_check_digit_mismatch(raw: str, expected: str, actual: str) -> None:
    error = fails(n.vin, raw, n.VIN_CHECK_DIGIT)
    assert (error.params["expected"], error.params["actual"]) == (expected, actual)


@pytest.mark.parametrize(("raw", "chars"), [
    ("LSVAB2BRIFN123456", "I"), ("LSVOB2BR0FN123456", "O"), ("QSVAB2BR0FN123456", "Q"),
    ("LSVAB2BR0FN12345*", "*"), ("车架号LSVAB2BR0FN123", "车架号"), ("LSVAB2BR0FN12345/6", "/"),
])
def test_vin_bad_characters(raw: str, chars: str) -> None:
    assert fails(n.vin, raw, n.VIN_CHARACTERS).params["chars"] == chars


@pytest.mark.parametrize(("raw", "length"), [("LSVAB2BR0FN12345", 16), ("LSVAB2BR0FN1234567", 18), ("123", 3),
                                              (12345678901234567890, 20)])
def test_vin_wrong_length(raw: object, length: int) -> None:
    assert fails(n.vin, raw, n.VIN_LENGTH).params["length"] == length


def test_vin_check_digit_weights_and_transliteration() -> None:
    # Every position weighted: a 1 in each place alone, the rest 0, gives the weight mod 11.
    for position, weight in enumerate((8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)):
        digits = ["0"] * 17
        digits[position] = "1"
        assert n.vin_check_digit("".join(digits)) == ("X" if weight == 10 else str(weight % 11))
    values = {"A": 1, "H": 8, "J": 1, "N": 5, "P": 7, "R": 9, "S": 2, "Z": 9}
    for letter, value in values.items():
        assert n.vin_check_digit(letter + "0" * 16) == str(8 * value % 11).replace("10", "X")


# --- plate ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "value"), [
    ("沪A12345", "沪A12345"),
    ("沪A·12345", "沪A12345"),
    ("沪a 12345", "沪A12345"),
    ("粤B.3X5Y7", "粤B3X5Y7"),
    ("京A-8888挂", "京A8888挂"),
    ("京A1234警", "京A1234警"),
    ("粤Z1234港", "粤Z1234港"),
    ("粤Z1234澳", "粤Z1234澳"),
    ("苏E1234学", "苏E1234学"),
    ("沪AD12345", "沪AD12345"),  # small new-energy
    ("沪ad12345", "沪AD12345"),
    ("沪AF12345", "沪AF12345"),
    ("浙AD E1234", "浙ADE1234"),
    ("沪AA12345", "沪AA12345"),
    ("沪A12345D", "沪A12345D"),  # large new-energy
    ("川A 12345F", "川A12345F"),
    ("闽Ｄ１２３４５", "闽D12345"),
    ("闽ｄ・１２３４５", "闽D12345"),
    (" 鲁 B · 8 8 8 8 8 ", "鲁B88888"),
])
def test_valid_plates(raw: str, value: str) -> None:
    assert n.plate(raw) == value


@pytest.mark.parametrize("raw", ["A12345", "12345", "港A12345", "ABC-1234", "台A12345", "·A12345"])
def test_plate_needs_a_province(raw: str) -> None:
    fails(n.plate, raw, n.PLATE_PROVINCE)


@pytest.mark.parametrize("raw", [
    "沪A1234",  # too short
    "沪A1234567",  # too long
    "沪I12345",  # no I after the province
    "沪O12345",
    "沪A1234O",  # no O in the serial
    "沪1A2345",  # the second character is a letter
    "沪AD123",
    "沪AX1234A",
    "沪AD1234X",  # small NEV: a letter then 4 digits, or 5 digits
    "沪A1234D5",
    "沪A挂1234",
    "沪",
])
def test_bad_plates(raw: str) -> None:
    fails(n.plate, raw, n.PLATE_FORMAT)
