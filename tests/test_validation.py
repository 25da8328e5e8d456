"""Tests for bot.validation: property tests built on the GB 11643 / GB 32100 algorithms."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from bot.render.fonts import FontStack, find_cjk_font, find_font_stack
from bot.validation import (
    ERROR_CODES,
    Code,
    ValidationError,
    clean_text,
    normalise_free_text,
    ric_check_char,
    uscc_check_char,
    validate_employer,
    validate_mobile,
    validate_name,
    validate_resident_id,
    validate_uscc,
)
from tests.glyphs import EXT_B, ext_b_face, undrawable_han

PROPERTY = settings(max_examples=200, deadline=None)

TODAY = date(2025, 6, 15)
BEIJING_REGIONS = ("110101", "110102", "110105", "110106", "110108")
RIC_CHARS = "0123456789X"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def make_ric(region: str, born: date, sequence: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + ric_check_char(first17)


def rejects(code: str):
    return pytest.raises(ValidationError, match=rf"^{code}$")


@st.composite
def resident_ids(draw: st.DrawFn) -> tuple[str, date, int]:
    region = draw(st.sampled_from(BEIJING_REGIONS))
    born = draw(st.dates(date(1940, 1, 1), years_before(TODAY, 16)))
    sequence = draw(st.integers(0, 999))
    return make_ric(region, born, sequence), born, sequence


@st.composite
def usccs(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from("159NYA"))
    kind = draw(st.sampled_from("1239"))
    region = draw(st.text("0123456789", min_size=6, max_size=6))
    org = draw(st.text(USCC_ALPHABET, min_size=9, max_size=9))
    first17 = authority + kind + region + org
    return first17 + uscc_check_char(first17)


def test_error_codes_are_unique_and_documented() -> None:
    assert len(set(ERROR_CODES)) == len(ERROR_CODES)
    assert {"ric.checksum", "ric.old_15_digit", "uscc.checksum", "text.too_long"} <= set(
        ERROR_CODES
    )
    assert ValidationError(Code.RIC_CHECKSUM).code == "ric.checksum"


# --------------------------------------------------------------------------- resident id


@PROPERTY
@given(resident_ids())
def test_valid_resident_id_accepted_with_derived_fields(case: tuple[str, date, int]) -> None:
    number, born, sequence = case
    resident = validate_resident_id(number, today=TODAY)
    assert resident.number == number
    assert resident.birth_date == born
    assert resident.gender == ("male" if sequence % 2 else "female")
    assert resident.region_code == number[:6]
    assert resident.age(TODAY) >= 16


@PROPERTY
@given(resident_ids(), st.data())
def test_any_single_character_change_rejected(case: tuple[str, date, int], data) -> None:
    number = case[0]
    pos = data.draw(st.integers(0, 17))
    other = data.draw(st.sampled_from([c for c in RIC_CHARS if c != number[pos]]))
    with pytest.raises(ValidationError):
        validate_resident_id(number[:pos] + other + number[pos + 1 :], today=TODAY)


@PROPERTY
@given(st.text("0123456789", min_size=17, max_size=17))
def test_ric_check_char_matches_stdnum(first17: str) -> None:
    number = first17 + ric_check_char(first17)
    assert stdnum_ric.calc_check_digit(number) == number[-1]


def test_known_resident_id_and_lower_case_x() -> None:
    resident = validate_resident_id("11010519491231002x", today=TODAY)
    assert resident.number == "11010519491231002X"
    assert resident.birth_date == date(1949, 12, 31)
    assert resident.gender == "female"
    assert resident.age(date(2025, 12, 30)) == 75
    assert resident.age(date(2025, 12, 31)) == 76


@pytest.mark.parametrize(
    "raw",
    [
        "110105 19491231 002X",
        "110105-19491231-002X",
        "１１０１０５１９４９１２３１００２Ｘ",
        "\u200b11010519491231002X",
    ],
)
def test_resident_id_separators_and_full_width(raw: str) -> None:
    assert validate_resident_id(raw, today=TODAY).number == "11010519491231002X"


def test_future_birth_rejected() -> None:
    number = make_ric("110105", TODAY + timedelta(days=1), 123)
    assert stdnum_ric.is_valid(number)  # stdnum alone would accept it
    with rejects("ric.future_birth"):
        validate_resident_id(number, today=TODAY)


def test_implausible_birth_rejected() -> None:
    with rejects("ric.implausible_birth"):
        validate_resident_id(make_ric("110105", date(1899, 12, 31), 1), today=TODAY)


def test_under_16_rejected_and_16th_birthday_accepted() -> None:
    sixteen = years_before(TODAY, 16)
    with rejects("ric.too_young"):
        validate_resident_id(make_ric("110105", sixteen + timedelta(days=1), 11), today=TODAY)
    assert validate_resident_id(make_ric("110105", sixteen, 11), today=TODAY).age(TODAY) == 16


def test_old_15_digit_rejected_with_its_code() -> None:
    with rejects("ric.old_15_digit"):
        validate_resident_id("110105491231002", today=TODAY)


@pytest.mark.parametrize("raw", ["11010519491231002", "1101051949123100211", "1101051949123100AX"])
def test_malformed_resident_id(raw: str) -> None:
    with rejects("ric.format"):
        validate_resident_id(raw, today=TODAY)


def test_impossible_birth_date_and_unknown_region() -> None:
    bad_date = "1101051990023000" + "5"
    with rejects("ric.bad_birth_date"):
        validate_resident_id(bad_date + ric_check_char(bad_date), today=TODAY)
    with rejects("ric.bad_region"):
        validate_resident_id(make_ric("119999", date(1990, 1, 1), 5), today=TODAY)


def test_region_code_from_after_birth_year_accepted() -> None:
    # 110115 (大兴区) exists since 2001; stdnum rejects it for a 1980 birth, we do not.
    number = make_ric("110115", date(1980, 5, 5), 21)
    assert not stdnum_ric.is_valid(number)
    assert validate_resident_id(number, today=TODAY).region_code == "110115"


def test_4000_character_resident_id_rejected() -> None:
    with rejects("text.too_long"):
        validate_resident_id("1" * 4000, today=TODAY)


# --------------------------------------------------------------------------- USCC


@PROPERTY
@given(usccs())
def test_valid_uscc_accepted(code: str) -> None:
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code
    assert validate_uscc(f" {code[:8]} {code[8:]} ") == code


@PROPERTY
@given(usccs(), st.data())
def test_uscc_single_character_change_rejected(code: str, data) -> None:
    pos = data.draw(st.integers(0, 17))
    other = data.draw(st.sampled_from([c for c in USCC_ALPHABET if c != code[pos]]))
    with pytest.raises(ValidationError):
        validate_uscc(code[:pos] + other + code[pos + 1 :])


@PROPERTY
@given(st.sampled_from("159"), st.text("0123456789", min_size=7, max_size=7), st.data())
def test_uscc_check_char_matches_stdnum_for_digit_codes(first: str, digits: str, data) -> None:
    org = data.draw(st.text(USCC_ALPHABET, min_size=9, max_size=9))
    first17 = first + digits + org
    assert stdnum_uscc.calc_check_digit(first17) == uscc_check_char(first17)


@pytest.mark.parametrize("first", ["N", "Y", "A"])
def test_stdnum_rejects_valid_letter_authority_code_we_accept(first: str) -> None:
    first17 = first + "2110000600037341"
    code = first17 + uscc_check_char(first17)
    assert not stdnum_uscc.is_valid(code)  # python-stdnum 2.2 bug
    assert validate_uscc(code) == code


def test_known_uscc() -> None:
    assert validate_uscc("91110000600037341l") == "91110000600037341L"
    with rejects("uscc.checksum"):
        validate_uscc("91110000600037341M")


@pytest.mark.parametrize(
    "raw", ["9111000060003734", "91110000600037341LL", "9111000060003734IL", "91A10000600037341L"]
)
def test_uscc_format(raw: str) -> None:
    with rejects("uscc.format"):
        validate_uscc(raw)


# --------------------------------------------------------------------------- mobile


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "008613812345678",
        "+8613812345678",
        "8613812345678",  # Telegram shares contacts without the plus
        "１３８１２３４５６７８",
    ],
)
def test_mobile_accepted_forms(raw: str) -> None:
    assert validate_mobile(raw) == "+8613812345678"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("010-12345678", "mobile.not_mobile"),
        ("+86 10 1234 5678", "mobile.not_mobile"),
        ("+1 202 555 0100", "mobile.not_mainland"),
        ("+852 6123 4567", "mobile.not_mainland"),
        ("1381234567", "mobile.invalid"),
        ("138abcd5678", "mobile.invalid"),
        ("call me", "mobile.invalid"),
        ("+", "mobile.invalid"),
        ("", "text.empty"),
    ],
)
def test_mobile_rejections(raw: str, code: str) -> None:
    with rejects(code):
        validate_mobile(raw)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", "张三"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("阿依古丽•买买提", "阿依古丽·买买提"),
        ("阿依古丽．买买提", "阿依古丽·买买提"),
        ("阿依古丽・买买提", "阿依古丽·买买提"),
        ("阿依古丽‧买买提", "阿依古丽·买买提"),
        ("阿依古丽 · 买买提", "阿依古丽·买买提"),
        ("张\u200b三", "张三"),
        ("\u202e张三\u202c", "张三"),
        ("𠀀𠀁", "𠀀𠀁"),  # CJK Extension B
        ("John Smith", "John Smith"),
        ("  John   Smith ", "John Smith"),
        ("Jo\u200dhn Smith", "John Smith"),
        ("Mary-Jane O’Neil", "Mary-Jane O'Neil"),
        ("J. R. Smith Jr.", "J. R. Smith Jr."),
        ("José Núñez", "José Núñez"),
    ],
)
def test_name_accepted(raw: str, expected: str) -> None:
    assert validate_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("<b>张三</b>", "name.bad_chars"),
        ("<b>John</b>", "name.bad_chars"),
        ("张", "name.too_short"),
        ("J", "name.too_short"),
        ("😀😀", "name.bad_chars"),
        ("张三😀", "name.bad_chars"),
        ("张" * 41, "name.too_long"),
        ("A" * 41, "name.too_long"),
        ("张三3", "name.bad_chars"),
        ("John 2", "name.bad_chars"),
        ("张三John", "name.bad_chars"),
        ("·张三", "name.bad_dot"),
        ("张三·", "name.bad_dot"),
        ("张··三", "name.bad_dot"),
        ("John--Smith", "name.bad_chars"),
        ("Иван", "name.bad_chars"),
        ("\u200b\u200b", "text.empty"),
    ],
)
def test_name_rejected(raw: str, code: str) -> None:
    with rejects(code):
        validate_name(raw)


def test_name_at_the_limits() -> None:
    assert validate_name("张" * 40) == "张" * 40
    assert validate_name("Al") == "Al"


# Names against the fonts of the member card (bot/render/fonts.py).


@pytest.fixture(scope="module")
def stack() -> FontStack:
    return find_font_stack()


def test_name_the_card_fonts_draw_is_accepted(stack: FontStack) -> None:
    ext_b_face(stack)  # this machine has a fallback font with Extension B
    for name in ("龙" + EXT_B, "阿依古丽·买买提", "José Núñez", "𠀀 𠀁"):
        assert validate_name(name, stack.missing) == validate_name(name)


def test_name_with_a_character_no_font_has_is_refused_naming_it(stack: FontStack) -> None:
    lacking = undrawable_han(stack)
    with rejects("name.no_glyph") as info:
        validate_name(f"张{lacking}", stack.missing)
    assert info.value.chars == (lacking,)
    assert validate_name(f"张{lacking}") == f"张{lacking}"  # the shape alone is fine


def test_no_glyph_names_each_character_once_in_the_order_typed() -> None:
    noto_only = FontStack(find_cjk_font())  # no fallback: Extension B is missing
    with rejects("name.no_glyph") as info:
        validate_name(f"𪚥张{EXT_B}𪚥", noto_only.missing)
    assert info.value.chars == ("𪚥", EXT_B)


def test_latin_letter_no_font_has_is_refused(stack: FontStack) -> None:
    # The Latin shape accepts any Latin letter; some (Latin Extended-D) no font here has.
    def shape_ok(name: str) -> bool:
        try:
            return validate_name(name) == name
        except ValidationError:
            return False

    letter = next(
        chr(c)
        for c in range(0xA720, 0xA800)
        if stack.missing(chr(c)) and shape_ok(f"J{chr(c)}hn Smith")
    )
    name = f"J{letter}hn Smith"
    with rejects("name.no_glyph") as info:
        validate_name(name, stack.missing)
    assert info.value.chars == (letter,)


# --------------------------------------------------------------------------- free text


def test_clean_text_rejects_4000_characters() -> None:
    with rejects("text.too_long"):
        clean_text("字" * 4000, max_len=100)
    with rejects("text.too_long"):
        clean_text("x" * 100_000, max_len=100)


def test_clean_text_strips_invisible_and_collapses_whitespace() -> None:
    raw = "\ufeff北京\u2066某某\u2069\t\n 公司\u2060\x00"
    assert clean_text(raw, max_len=20) == "北京某某 公司"
    with rejects("text.empty"):
        clean_text(" \u200b\u200c\u200d\u200e\u200f\u202a\u202d\u2060\n ", max_len=20)


def test_clean_text_counts_length_after_cleaning() -> None:
    assert clean_text("  " + "a" * 10 + "  ", max_len=10) == "a" * 10


def test_normalise_free_text() -> None:
    assert normalise_free_text("ＡＣＭＥ（北京）科技有限公司") == "ACME（北京）科技有限公司"
    assert normalise_free_text("某某公司 (分公司)") == "某某公司 （分公司）"
    assert normalise_free_text("  焊工　 ") == "焊工"
    with rejects("text.too_long"):
        normalise_free_text("a" * 101)


# --------------------------------------------------------------------------- employer

MOBILE_PREFIXES = ("130", "138", "139", "150", "166", "170", "177", "186", "199")


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    """A mainland mobile number as people type it: prefixes, spaces, dashes, brackets."""
    digits = draw(st.sampled_from(MOBILE_PREFIXES)) + draw(
        st.text("0123456789", min_size=8, max_size=8)
    )
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "86", "(+86)", "0086 "]))
    separator = draw(st.sampled_from(["", " ", "-", "."]))
    return prefix + separator.join([digits[:3], digits[3:7], digits[7:]])


WORDS = st.sampled_from(["", "字节跳动", "我的电话", "Tel:", "北京某某科技有限公司 ", "（手机）"])


@PROPERTY
@given(mobiles(), WORDS, WORDS)
def test_employer_with_a_mobile_number_rejected(mobile: str, before: str, after: str) -> None:
    with rejects("employer.mobile"):
        validate_employer(before + mobile + after)


@PROPERTY
@given(resident_ids(), WORDS, st.booleans())
def test_employer_with_a_resident_id_rejected(
    case: tuple[str, date, int], before: str, spaced: bool
) -> None:
    number = case[0]
    typed = f"{number[:6]} {number[6:14]} {number[14:]}" if spaced else number.lower()
    with rejects("employer.resident_id"):
        validate_employer(before + typed)


@PROPERTY
@given(usccs(), st.sampled_from(["", "字节跳动 ", "信用代码："]))
def test_employer_valid_uscc_accepted(code: str, before: str) -> None:
    try:
        validate_resident_id(code)
    except ValidationError:
        pass
    else:  # a code that is also a valid id number is refused as one (see find_uscc)
        return
    assert validate_employer(before + code) == normalise_free_text(before + code)


def test_employer_uscc_of_digits_accepted() -> None:
    first17 = "91110102000012345"
    code = first17 + uscc_check_char(first17)
    assert sum(ch.isdigit() for ch in code) >= 17
    assert validate_employer(code) == code


def test_employer_uscc_with_a_typo_is_left_to_the_form() -> None:
    # The form answers "校验位不正确" for it (bot.matching.find_uscc): not a digits refusal.
    first17 = "91110108MA01XK3E0"
    wrong = first17 + ("1" if uscc_check_char(first17) != "1" else "2")
    assert validate_employer(wrong) == wrong


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("+86170123456788613800138000", "employer.mobile"),
        ("１３８１２３４５６７８", "employer.mobile"),  # full width
        ("20000000000000000", "employer.digits"),  # 17 digits
        ("110102900517001", "employer.resident_id"),  # first-generation 15-digit id
        ("11010219900517901" + "0", "employer.resident_id"),  # id shape, wrong check digit
        ("010-6601 2345", "employer.digits"),  # a landline
        ("QQ 12345678", "employer.digits"),
        ("12345 号", "employer.digits"),
        ("123456", "employer.digits"),
    ],
)
def test_employer_numbers_rejected(raw: str, code: str) -> None:
    with rejects(code):
        validate_employer(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "北京字节跳动科技有限公司",
        "7天连锁酒店",
        "58同城",
        "360",
        "北京市第101中学",
        "北京2008奥运会组委会",
        "Beijing ByteDance Co",
        "西城区 3 号楼 502 室 早点铺",
    ],
)
def test_employer_names_with_short_numbers_accepted(raw: str) -> None:
    assert validate_employer(raw) == normalise_free_text(raw)


def test_employer_length_error_carries_the_limit() -> None:
    with rejects("text.too_long") as refused:
        validate_employer("工" * 101)
    assert refused.value.limit == 100


def test_employer_number_that_passes_the_uscc_check_by_chance_is_still_a_mobile() -> None:
    # Found by hypothesis: "0086 16689999408Tel:" is 18 characters of the USCC alphabet
    # with a right check character, but no USCC starts with 0 (no such authority).
    with rejects("employer.mobile"):
        validate_employer("0086 16689999408Tel:")
