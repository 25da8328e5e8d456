"""Validators for what workers type into the bot.

Every validator takes raw user text and returns a normalised value, or raises
:class:`ValidationError` carrying a short, stable machine code (see :class:`Code`).
Handlers map the codes to translated, polite messages; the codes never change meaning.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Literal

import phonenumbers
from stdnum import exceptions as stdnum_exceptions
from stdnum import numdb
from stdnum.cn import ric as stdnum_ric

__all__ = [
    "ERROR_CODES",
    "MIN_WORKING_AGE",
    "Code",
    "ResidentId",
    "ValidationError",
    "beijing_today",
    "clean_text",
    "normalise_free_text",
    "ric_check_char",
    "uscc_check_char",
    "validate_employer",
    "validate_mobile",
    "validate_name",
    "validate_resident_id",
    "validate_uscc",
]


class Code(StrEnum):
    """Every error code a validator may raise (members are plain strings)."""

    TEXT_EMPTY = "text.empty"  # nothing left after cleaning
    TEXT_TOO_LONG = "text.too_long"  # longer than the field allows
    TEXT_NO_WORDS = "text.no_words"  # only emoji, punctuation or symbols
    NAME_TOO_SHORT = "name.too_short"  # fewer than 2 characters
    NAME_TOO_LONG = "name.too_long"  # more than 40 characters
    NAME_BAD_CHARS = "name.bad_chars"  # digits, emoji, HTML, mixed scripts, ...
    NAME_BAD_DOT = "name.bad_dot"  # leading, trailing or doubled middle dot
    NAME_NO_GLYPH = "name.no_glyph"  # a character no font of the member card has
    RIC_FORMAT = "ric.format"  # not 17 digits + digit/X
    RIC_OLD_15_DIGIT = "ric.old_15_digit"  # first-generation 15-digit card number
    RIC_CHECKSUM = "ric.checksum"  # wrong check digit (typo)
    RIC_BAD_BIRTH_DATE = "ric.bad_birth_date"  # birth date is not a calendar date
    RIC_IMPLAUSIBLE_BIRTH = "ric.implausible_birth"  # born before 1900
    RIC_FUTURE_BIRTH = "ric.future_birth"  # born after today
    RIC_TOO_YOUNG = "ric.too_young"  # younger than MIN_WORKING_AGE
    RIC_BAD_REGION = "ric.bad_region"  # unknown administrative division code
    MOBILE_INVALID = "mobile.invalid"  # not a phone number at all
    MOBILE_NOT_MAINLAND = "mobile.not_mainland"  # foreign / HK / Macau / Taiwan number
    MOBILE_NOT_MOBILE = "mobile.not_mobile"  # valid mainland number, but a fixed line
    USCC_FORMAT = "uscc.format"  # wrong length or characters outside GB 32100's set
    USCC_CHECKSUM = "uscc.checksum"  # wrong check character (typo)
    # Personal numbers typed where the employer belongs (they would become an enterprise
    # name: stored, counted, shown on review cards and offered to other workers).
    EMPLOYER_MOBILE = "employer.mobile"  # contains a mobile number
    EMPLOYER_RESIDENT_ID = "employer.resident_id"  # contains an id number (or its shape)
    EMPLOYER_DIGITS = "employer.digits"  # mostly digits, or a long run of them: no name


ERROR_CODES: tuple[str, ...] = tuple(code.value for code in Code)


class ValidationError(ValueError):
    """User input was rejected; ``code`` is one of :data:`ERROR_CODES`.

    ``chars`` names the offending characters where the message should show them; ``limit``
    is the field's maximum length, for ``text.too_long`` (so the answer can name it).
    """

    def __init__(
        self, code: Code | str, chars: Iterable[str] = (), *, limit: int | None = None
    ) -> None:
        code = Code(code)  # an unknown code is a programming error: fail loudly
        super().__init__(code.value)
        self.code: str = code.value
        self.chars: tuple[str, ...] = tuple(chars)
        self.limit = limit


# --------------------------------------------------------------------------- text

# Telegram caps messages at 4096 characters; this bounds the work done on anything bigger.
_HARD_INPUT_CAP = 10_000

_INVISIBLE = frozenset(
    [chr(c) for c in range(0x200B, 0x2010)]  # zero-width space/joiners, LRM, RLM
    + [chr(c) for c in range(0x202A, 0x202F)]  # bidi embeddings and overrides
    + [chr(c) for c in range(0x2066, 0x206A)]  # bidi isolates
    + ["\u2060", "\ufeff", "\u00ad"]  # word joiner, BOM, soft hyphen
)
_WHITESPACE_RUN = re.compile(r"\s+")


def _is_dropped(ch: str) -> bool:
    # Whitespace is kept here so that it can be collapsed to a single space afterwards.
    if ch in _INVISIBLE:
        return True
    return not ch.isspace() and unicodedata.category(ch) in {"Cc", "Cf", "Cs"}


def _strip_invisible(text: str) -> str:
    return "".join(ch for ch in text if not _is_dropped(ch))


def clean_text(raw: str, max_len: int) -> str:
    """NFKC-normalise, drop invisible/control characters, collapse whitespace.

    Raises ``text.empty`` when nothing is left and ``text.too_long`` above ``max_len``.
    """
    if len(raw) > max(_HARD_INPUT_CAP, max_len):
        raise ValidationError(Code.TEXT_TOO_LONG, limit=max_len)
    text = unicodedata.normalize("NFKC", raw)
    text = _WHITESPACE_RUN.sub(" ", _strip_invisible(text)).strip()
    if not text:
        raise ValidationError(Code.TEXT_EMPTY)
    if len(text) > max_len:
        raise ValidationError(Code.TEXT_TOO_LONG, limit=max_len)
    return text


def normalise_free_text(raw: str, max_len: int = 100) -> str:
    """Clean an employer or job field; round brackets become full-width （）.

    NFKC already turns full-width ASCII into half-width; brackets go the other way
    because registered Chinese company names use full-width ones, and matching the
    enterprise registry needs one form.
    """
    text = clean_text(raw, max_len)
    # "😀👍" or "。。。" names no employer or job (and would all count as one enterprise).
    if not any(ch.isalnum() for ch in text):
        raise ValidationError(Code.TEXT_NO_WORDS)
    return text.replace("(", "（").replace(")", "）")


# --------------------------------------------------------------------------- employer

EMPLOYER_MAX_LEN = 100
JOB_MAX_LEN = 60
# Enterprise names carry short numbers ("7天", "58同城", "第101中学", "360"); a run of seven
# or more digits is a phone, id, QQ or bank number, never part of a name.
EMPLOYER_MAX_DIGIT_RUN = 6
# Also refused: five or more digits that make up most of what was typed ("12345 号").
_MOSTLY_DIGITS_FROM = 5
# Separators people put inside numbers ("+86 138-1234-5678", "(010) 6601.2345").
_NUMBER_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015+().·/_,，、]")
_ID_SHAPED = re.compile(r"(?<![0-9A-Z])[0-9A-Z]{18}(?![0-9A-Z])")
_OLD_ID = re.compile(r"(?<![0-9])[0-9]{15}(?![0-9])")
_DIGIT_RUN = re.compile(r"[0-9]+")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def validate_employer(raw: str, max_len: int = EMPLOYER_MAX_LEN) -> str:
    """The employer field: free text naming an enterprise, or its USCC.

    Refuses text that carries a mobile or resident id number, or is mostly digits: a
    worker who types their own number into the wrong field must not see it become an
    enterprise (stored in plain text, shown on review cards, offered to others). A valid
    USCC is accepted even though it may be nearly all digits.
    """
    text = normalise_free_text(raw, max_len)
    _refuse_personal_numbers(text)
    return text


def _refuse_personal_numbers(text: str) -> None:
    compact = _NUMBER_SEPARATORS.sub("", text.upper())
    rest: list[str] = []
    position = 0
    for found in _ID_SHAPED.finditer(compact):
        rest.append(compact[position : found.start()])
        position = found.end()
        token = found.group()
        if _valid_resident_id(token):  # before the USCC check: both may pass one in 31
            raise ValidationError(Code.EMPLOYER_RESIDENT_ID)
        if token[0] in USCC_AUTHORITIES and _valid_uscc(token):
            continue
        if token[:17].isdigit():  # 17 digits and a check character: an id number's shape
            raise ValidationError(Code.EMPLOYER_RESIDENT_ID)
        # A USCC with a typo (it has letters): the form explains its check character; only
        # a mobile number hidden in it is refused here.
        if _MOBILE.search(token):
            raise ValidationError(Code.EMPLOYER_MOBILE)
    rest.append(compact[position:])
    remainder = " ".join(rest)
    if _OLD_ID.search(remainder) and not _MOBILE.search(remainder):
        raise ValidationError(Code.EMPLOYER_RESIDENT_ID)  # first-generation 15-digit id
    runs = _DIGIT_RUN.findall(remainder)
    if any(_MOBILE.search(run) for run in runs):
        raise ValidationError(Code.EMPLOYER_MOBILE)
    digits = sum(len(run) for run in runs)
    letters = sum(ch.isalnum() for ch in remainder) - digits
    if any(len(run) > EMPLOYER_MAX_DIGIT_RUN for run in runs) or (
        digits >= _MOSTLY_DIGITS_FROM and digits > letters
    ):
        raise ValidationError(Code.EMPLOYER_DIGITS)


def _valid_resident_id(token: str) -> bool:
    try:
        validate_resident_id(token)
    except ValidationError:
        return False
    return True


# GB 32100's registration authorities (first character): 机构编制 1, 外交 2, 司法行政 3, 文化 4,
# 民政 5, 旅游 6, 宗教 7, 工会 8, 工商 9, 中央军委改革和编制办公室 A, 农业 N, 其他 Y. One text in 31
# passes the check character by chance ("0086 138…Tel"): a code must also name an authority.
USCC_AUTHORITIES = frozenset("123456789ANY")


def _valid_uscc(token: str) -> bool:
    try:
        validate_uscc(token)
    except ValidationError:
        return False
    return True


# --------------------------------------------------------------------------- names

NAME_MIN_LEN = 2
NAME_MAX_LEN = 40

# Forms of the middle dot of minority names found in the wild (after NFKC, which maps
# full-width '．' to '.' and half-width '･' to '・').
_DOT_VARIANTS = frozenset(".\u00b7\u2022\u2027\u30fb\u2219\u22c5")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_HAN_RANGES = (
    (0x3400, 0x4DBF),  # Extension A
    (0x4E00, 0x9FFF),  # Unified Ideographs
    (0xF900, 0xFAFF),  # Compatibility Ideographs
    (0x20000, 0x2A6DF),  # Extension B
    (0x2A700, 0x2EE5F),  # Extensions C, D, E, F, I
    (0x2F800, 0x2FA1F),  # Compatibility Ideographs Supplement
    (0x30000, 0x323AF),  # Extensions G, H
)
_HAN_SHAPE = re.compile(r"H+(?:·H+)*")
# "A" stands for any Latin letter: words joined by space, hyphen or apostrophe,
# initials with dots ("J. R. Smith", "J.R. Smith"), an optional final dot ("Jr.").
_LATIN_SHAPE = re.compile(r"A+(?:(?:\. ?|[ '\-])A+)*\.?")


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _HAN_RANGES)


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN ")


def _han_name(text: str) -> str:
    # Spaces inside Chinese names are typing noise ("张 三", "阿依古丽 · 买买提").
    text = "".join("·" if ch in _DOT_VARIANTS else ch for ch in text if ch != " ")
    if any(ch != "·" and not _is_han(ch) for ch in text):
        raise ValidationError(Code.NAME_BAD_CHARS)
    if not _HAN_SHAPE.fullmatch("".join("·" if ch == "·" else "H" for ch in text)):
        raise ValidationError(Code.NAME_BAD_DOT)
    return text


def _latin_name(text: str) -> str:
    text = text.translate(_APOSTROPHES)
    shape = "".join("A" if _is_latin_letter(ch) else ch for ch in text)
    if any(ch not in "A .'-" for ch in shape) or not _LATIN_SHAPE.fullmatch(shape):
        raise ValidationError(Code.NAME_BAD_CHARS)
    return text


# What a font stack lacks of a text (`FontStack.missing` of bot.render.fonts).
MissingGlyphs = Callable[[str], Collection[str]]


def validate_name(raw: str, missing_glyphs: MissingGlyphs | None = None) -> str:
    """A Chinese name (Han, optional middle dots → U+00B7) or a Latin-script name.

    With `missing_glyphs` (the member card's font stack), a name with a character that no
    font can draw is refused with ``name.no_glyph``, naming the characters in the order
    they appear: its card could never be made.
    """
    text = clean_text(raw, max_len=NAME_MAX_LEN * 4)
    name = _han_name(text) if any(_is_han(ch) for ch in text) else _latin_name(text)
    if len(name) < NAME_MIN_LEN:
        raise ValidationError(Code.NAME_TOO_SHORT)
    if len(name) > NAME_MAX_LEN:
        raise ValidationError(Code.NAME_TOO_LONG)
    if missing_glyphs is not None:
        lacking = missing_glyphs(name)
        if lacking:
            raise ValidationError(
                Code.NAME_NO_GLYPH, dict.fromkeys(c for c in name if c in lacking)
            )
    return name


# --------------------------------------------------------------------------- resident id

# Chinese labour law forbids employing anyone under 16.
MIN_WORKING_AGE = 16
_EARLIEST_BIRTH = date(1900, 1, 1)
_CHINA_TZ = timezone(timedelta(hours=8))  # no DST in China, so a fixed offset is exact
# Residence permits of Hong Kong, Macau and Taiwan residents use these codes; the
# Taiwan one is missing from stdnum's table.
_RESIDENCE_PERMIT_REGIONS = frozenset({"810000", "820000", "830000"})
_RIC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015]")


def beijing_today() -> date:
    """Today's date in China, whatever the server's time zone."""
    return datetime.now(_CHINA_TZ).date()


@dataclass(frozen=True)
class ResidentId:
    """An accepted 18-digit resident identity card number and what it encodes."""

    number: str
    birth_date: date
    gender: Literal["male", "female"]
    region_code: str

    def age(self, on: date) -> int:
        """Age in whole years on the given date."""
        before_birthday = (on.month, on.day) < (self.birth_date.month, self.birth_date.day)
        return on.year - self.birth_date.year - before_birthday


def ric_check_char(first17: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2) check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("expected 17 ASCII digits")
    check = (12 - sum(int(d) * w for d, w in zip(first17, _RIC_WEIGHTS, strict=True)) % 11) % 11
    return "X" if check == 10 else str(check)


def _compact_id(raw: str, max_len: int) -> str:
    text = clean_text(raw, max_len=max_len)
    return _SEPARATORS.sub("", text).upper()


def _ric_birth_date(number: str, today: date) -> date:
    try:
        born = stdnum_ric.get_birth_date(number)
    except stdnum_exceptions.ValidationError:
        raise ValidationError(Code.RIC_BAD_BIRTH_DATE) from None
    # stdnum accepts any calendar date, including ones in the future.
    if born < _EARLIEST_BIRTH:
        raise ValidationError(Code.RIC_IMPLAUSIBLE_BIRTH)
    if born > today:
        raise ValidationError(Code.RIC_FUTURE_BIRTH)
    return born


def _region_known(region: str) -> bool:
    # stdnum.cn.ric.validate also rejects a county code that did not exist in the birth
    # year, but the code is the one of the residence when the card was issued: someone
    # born in 1980 may hold a 110115 (大兴区, 2001-) number. So any era will do.
    if region in _RESIDENCE_PERMIT_REGIONS:
        return True
    parts = numdb.get("cn/loc").info(region)
    return any("county" in props for _, props in parts)


def validate_resident_id(raw: str, today: date | None = None) -> ResidentId:
    """Validate an 18-character resident id number (GB 11643-1999)."""
    today = today or beijing_today()
    number = _compact_id(raw, max_len=64)
    if len(number) == 15 and number.isdigit():
        raise ValidationError(Code.RIC_OLD_15_DIGIT)
    body, check = number[:17], number[17:]
    if len(number) != 18 or not (body.isascii() and body.isdigit()) or check not in "0123456789X":
        raise ValidationError(Code.RIC_FORMAT)
    if stdnum_ric.calc_check_digit(number) != check:
        raise ValidationError(Code.RIC_CHECKSUM)
    resident = ResidentId(
        number=number,
        birth_date=_ric_birth_date(number, today),
        gender="male" if int(number[16]) % 2 else "female",
        region_code=number[:6],
    )
    if resident.age(today) < MIN_WORKING_AGE:
        raise ValidationError(Code.RIC_TOO_YOUNG)
    if not _region_known(resident.region_code):
        raise ValidationError(Code.RIC_BAD_REGION)
    return resident


# --------------------------------------------------------------------------- mobile

_PHONE_CHARS = frozenset("0123456789+-()./ ")


def validate_mobile(raw: str) -> str:
    """A mainland China mobile number, returned in E.164 form (``+8613812345678``)."""
    text = clean_text(raw, max_len=32)
    # phonenumbers maps letters to keypad digits ("vanity" numbers); refuse them first.
    if any(ch not in _PHONE_CHARS for ch in text):
        raise ValidationError(Code.MOBILE_INVALID)
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise ValidationError(Code.MOBILE_INVALID) from None
    if number.country_code != 86:
        raise ValidationError(Code.MOBILE_NOT_MAINLAND)
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(Code.MOBILE_INVALID)
    kind = phonenumbers.number_type(number)
    if kind not in {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }:
        raise ValidationError(Code.MOBILE_NOT_MOBILE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --------------------------------------------------------------------------- USCC

# GB 32100-2015: digits and upper-case letters without I, O, Z, S, V.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character for the first 17 characters of a USCC."""
    if len(first17) != 17 or any(ch not in USCC_ALPHABET for ch in first17):
        raise ValueError("expected 17 characters from the USCC alphabet")
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(raw: str) -> str:
    """A unified social credit code (统一社会信用代码), upper-cased.

    Not delegated to ``stdnum.cn.uscc``: python-stdnum 2.2 requires the first eight
    characters to be digits, so it rejects valid codes whose registration-authority
    code (position 1) or type code (position 2) is a letter, e.g. N (agriculture),
    Y (other), A (central organisation-establishment office). Verified against 2.2.
    Positions 3-8 are the administrative division code and therefore digits.
    """
    code = _compact_id(raw, max_len=64)
    if (
        len(code) != 18
        or any(ch not in USCC_ALPHABET for ch in code)
        or not (code[2:8].isascii() and code[2:8].isdigit())
    ):
        raise ValidationError(Code.USCC_FORMAT)
    if uscc_check_char(code[:17]) != code[17]:
        raise ValidationError(Code.USCC_CHECKSUM)
    return code
