"""Member card and poster rendering: real fonts, real PNG/PDF, QR codes decoded back."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import io
from pathlib import Path

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageFont, PdfParser

from bot.render.card import CARD_SIZE, CardData, layout_card, render_card, render_card_async
from bot.render.fonts import (
    FontNotFoundError,
    FontSpec,
    FontStack,
    MissingGlyphsError,
    find_cjk_font,
    find_fallback_fonts,
    find_font_stack,
    fit_text,
    missing_glyphs,
    wrap,
)
from bot.render.poster import (
    PAGE_SIZE,
    PosterData,
    layout_poster,
    render_poster_pdf,
    render_poster_png,
)
from bot.validation import ValidationError, validate_name
from tests.glyphs import EXT_B, EXT_B_OTHERS, ext_b_face, undrawable_han

VERIFY_URL = "https://t.me/unionbot_demo_bot?start=v_AbC123-_xyz"
DEEP_LINK = "https://t.me/unionbot_demo_bot?start=p_Xy7Kq2"
LONG_UNION = (
    "北京市西城区德胜街道新街口外大街中关村科技园区德胜科技园"
    "企业联合工会委员会暨非公有制企业工会联合会（筹）"
)
RARE = "𪚥"  # U+2A6A5, CJK Extension B: not in Noto Sans CJK
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@pytest.fixture(scope="module")
def font() -> FontSpec:
    return find_cjk_font()


@pytest.fixture(scope="module")
def stack() -> FontStack:
    """The fonts the bot draws with: the main font and this machine's fallback fonts."""
    return find_font_stack()


@pytest.fixture
def card() -> CardData:
    return CardData(
        union_name="北京市西城区德胜街道工会联合会",
        member_name="张晓明",
        member_number="XC-DS-2024-000123",
        join_date=datetime.date(2024, 5, 12),
        masked_id="110102********1234",
        verify_url=VERIFY_URL,
    )


@pytest.fixture
def poster() -> PosterData:
    return PosterData(street_name="德胜街道", point_name="德胜街道职工服务站", deep_link=DEEP_LINK)


def decode_qr(png: bytes) -> list[str]:
    image = Image.open(io.BytesIO(png))
    found = zxingcpp.read_barcodes(image)
    return [r.text for r in found if r.format == zxingcpp.BarcodeFormat.QRCode]


# ---------------------------------------------------------------- fonts


def test_found_font_covers_every_string_drawn(font, card, poster):
    assert not missing_glyphs(font, "工会会员卡申请德胜街道")
    for text in [*card.texts(), *poster.texts()]:
        assert missing_glyphs(font, text) == set(), text


def test_bundled_package_gives_the_simplified_chinese_face(font):
    assert "Noto Sans CJK SC" in font.family
    assert font.index == 2


def test_configured_font_wins_and_picks_the_sc_face(font):
    assert find_cjk_font(font.path) == font
    assert find_cjk_font(font.path, 0).index == 0


def test_missing_configured_font_is_a_readable_error(tmp_path):
    missing = tmp_path / "nope.ttc"
    with pytest.raises(FontNotFoundError) as info:
        find_cjk_font(missing)
    message = str(info.value)
    assert str(missing) in message
    assert "pip install noto-cjk-sans-otc" in message
    assert "fonts-noto-cjk" in message
    assert "render.cjk_font" in message


@pytest.mark.skipif(not DEJAVU.exists(), reason="needs a non-CJK system font")
def test_configured_font_without_chinese_is_refused():
    with pytest.raises(FontNotFoundError, match="not a Chinese font"):
        find_cjk_font(DEJAVU)


def test_garbage_font_file_is_refused(tmp_path):
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font at all" * 10)
    with pytest.raises(FontNotFoundError, match="cannot be loaded"):
        find_cjk_font(bogus)


def test_missing_glyphs_reads_the_cmap(font):
    assert missing_glyphs(font, "张 晓明\tABC 123，。") == set()
    assert missing_glyphs(font, f"龙{RARE}\u0378") == {RARE, "\u0378"}


def _sample_code_points() -> list[int]:
    """Common Han, a sweep of CJK Unified Ideographs, Extensions A and B, and a few others."""
    common = "工会会员卡申请德胜街道北京市西城区张晓明龙王李刘陈杨黄赵吴周徐孙马朱胡郭"
    return sorted(
        {ord(c) for c in common}
        | set(range(0x4E00, 0xA000, 97))  # CJK Unified Ideographs (U+9FF0.. unassigned)
        | set(range(0x3400, 0x4DC0, 61))  # Extension A
        | set(range(0x20000, 0x2A6E0, 1009))  # Extension B: not in Noto Sans CJK
        | {ord(RARE), ord("A"), ord("z"), ord("7"), ord("，"), ord("。"), 0x0378, 0x10FFFD}
    )


def test_coverage_agrees_with_freetype_for_the_bundled_face(font):
    # Independent check: FreeType (through Pillow) draws an unmapped code point with
    # the .notdef glyph, so a character is covered exactly when it renders differently.
    face = ImageFont.truetype(
        str(font.path), 24, index=font.index, layout_engine=ImageFont.Layout.BASIC
    )
    notdef = bytes(face.getmask("\u0378"))  # unassigned code point

    def freetype_covers(char: str) -> bool:
        return bytes(face.getmask(char)) != notdef

    sample = [chr(cp) for cp in _sample_code_points()]
    expected = {c for c in sample if not freetype_covers(c)}
    assert {c for c in sample if not font.covers(c)} == expected
    assert missing_glyphs(font, "".join(sample)) == expected
    assert RARE in expected and "\U00020000" in expected
    assert not {"工", "会", "龙", "德", "胜", "A", "，"} & expected
    assert len(sample) - len(expected) > 100  # the sample is mostly covered


def test_unreadable_faces_raise_value_error(tmp_path, font):
    bogus = tmp_path / "bogus.ttc"
    bogus.write_bytes(b"ttcf" + b"\xff" * 40)
    with pytest.raises(ValueError):
        FontSpec(bogus).covers("工")
    with pytest.raises(ValueError, match="font number"):
        FontSpec(font.path, 99).covers("工")
    if DEJAVU.exists():
        with pytest.raises(ValueError, match="single-face"):
            FontSpec(DEJAVU, 1).covers("A")


# ---------------------------------------------------------------- card


def test_card_is_an_id1_png_whose_qr_decodes_to_the_verify_url(font, card):
    png = render_card(card, font)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == CARD_SIZE
    width, height = image.size
    assert width / height == pytest.approx(85.60 / 53.98, rel=0.01)
    assert decode_qr(png) == [VERIFY_URL]


def test_card_rendering_is_deterministic(font, card):
    assert render_card(card, font) == render_card(card, font)


def test_cards_of_one_union_share_a_background_but_not_each_others_values(font, card):
    """The shared parts are drawn once per union; a card never shows another's values."""
    other = dataclasses.replace(
        card, member_name="赵六", member_number="XC-DS-2024-000999", verify_url=VERIFY_URL + "x"
    )
    first, second = render_card(card, font), render_card(other, font)
    assert first != second
    assert render_card(card, font) == first  # after another card of the same union
    assert decode_qr(second) == [VERIFY_URL + "x"]
    with_other_union = dataclasses.replace(card, union_name=LONG_UNION)
    assert render_card(with_other_union, font) != first


@pytest.mark.parametrize("i", range(20))
def test_card_qr_decodes_after_telegram_shrinks_it_to_a_jpeg(font, card, i):
    """Telegram delivers photos recompressed; the code (with its fixed mask) still reads."""
    data = dataclasses.replace(card, verify_url=f"{VERIFY_URL}{i:04d}")
    image = Image.open(io.BytesIO(render_card(data, font))).convert("RGB")
    small = image.resize((800, 504), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=75)
    assert decode_qr(out.getvalue()) == [f"{VERIFY_URL}{i:04d}"]


def test_long_union_and_member_names_fit(font, card):
    long_name = "阿卜杜热合曼·买买提依明·艾力"
    data = dataclasses.replace(card, union_name=LONG_UNION, member_name=long_name)
    stack = FontStack(font)
    lay = layout_card(data, stack)
    _, _, box_width, box_height = lay.union_name_box
    assert 1 < len(lay.union_name.lines) <= 2
    assert "".join(lay.union_name.lines) == LONG_UNION  # wrapped, nothing lost
    for line in lay.union_name.lines:
        assert stack.length(line, lay.union_name.size) <= box_width
    assert lay.union_name.size * 2.25 <= box_height + 1
    for fitted in lay.values:
        assert len(fitted.lines) == 1
        assert stack.length(fitted.lines[0], fitted.size) <= lay.value_width
    assert decode_qr(render_card(data, font)) == [VERIFY_URL]


def test_absurdly_long_union_name_is_cut_with_an_ellipsis(font, card):
    data = dataclasses.replace(card, union_name=LONG_UNION * 5)
    stack = FontStack(font)
    lay = layout_card(data, stack)
    assert len(lay.union_name.lines) == 2
    assert lay.union_name.lines[-1].endswith("…")
    assert all(
        stack.length(x, lay.union_name.size) <= lay.union_name_box[2] for x in lay.union_name.lines
    )
    render_card(data, font)


def test_line_breaks_and_tabs_in_values_are_drawn_as_spaces(font, card):
    data = dataclasses.replace(card, member_name="张\n晓明", union_name="德胜街道\t工会\r\n联合会")
    assert decode_qr(render_card(data, font)) == [VERIFY_URL]


def test_rare_character_without_fallback_is_an_error_not_tofu(font, card):
    data = dataclasses.replace(card, member_name=f"龙{RARE}")
    with pytest.raises(MissingGlyphsError) as info:
        render_card(data, font, fallbacks=())
    assert info.value.chars == (RARE,)
    assert "U+2A6A5" in str(info.value)


def _gray(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("L")


def test_extension_b_name_is_drawn_with_the_fallback_font_not_tofu(stack, card):
    face = ext_b_face(stack)
    assert not stack.primary.covers(EXT_B)
    # FreeType draws the fallback's own glyph, not its .notdef box (as checked above for
    # the bundled face).
    freetype = face.load(40)
    glyph = bytes(freetype.getmask(EXT_B))
    assert glyph != bytes(freetype.getmask("\u0378")) and any(glyph)

    # On the card: what "龙" + c adds to a card for "龙" is the glyph of c. Tofu boxes
    # would all be the same; real glyphs of different characters are not.
    base = _gray(render_card(dataclasses.replace(card, member_name="龙"), stack))
    drawn = {}
    for char in (EXT_B, *EXT_B_OTHERS):
        assert stack.font_for(char) is not None and not stack.primary.covers(char)
        png = render_card(dataclasses.replace(card, member_name="龙" + char), stack)
        assert decode_qr(png) == [VERIFY_URL]
        drawn[char] = _gray(png)
    boxes = [ImageChops.difference(image, base).getbbox() for image in drawn.values()]
    assert all(boxes), "a rare character left no ink on the card"
    union = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    cells = [image.crop(union).tobytes() for image in drawn.values()]
    assert len(set(cells)) == len(cells), "different characters were drawn alike (tofu)"
    lay = layout_card(dataclasses.replace(card, member_name="龙" + EXT_B), stack)
    assert lay.values[0].lines == ("龙" + EXT_B,)  # nothing cut or dropped


def test_name_check_and_card_agree_on_what_can_be_drawn(stack, card):
    # The name check asks the renderer's own stack: a name passes exactly when its card
    # can be drawn.
    ext_b_face(stack)
    lacking = undrawable_han(stack)
    for name in ("龙" + EXT_B, "张" + lacking):
        data = dataclasses.replace(card, member_name=name)
        try:
            accepted = validate_name(name, stack.missing) == name
        except ValidationError as error:
            assert error.code == "name.no_glyph" and error.chars == (lacking,)
            accepted = False
        try:
            drawable = bool(render_card(data, stack))
        except MissingGlyphsError as error:
            assert error.chars == (lacking,)
            drawable = False
        assert accepted == drawable == (name != "张" + lacking)


def test_configured_fallback_fonts_come_first_and_must_exist(tmp_path, font):
    configured = find_font_stack(fallbacks=[font.path])
    assert configured.fallbacks[0] == FontSpec(font.path, 2)  # the SC face of the .ttc
    assert configured.fallbacks[1:] == find_fallback_fonts()  # then the well-known ones
    missing = tmp_path / "HanaMinB.ttf"
    with pytest.raises(FontNotFoundError, match=r"render\.fallback_fonts") as info:
        find_font_stack(fallbacks=[missing])
    assert str(missing) in str(info.value) and "fonts-hanazono" in str(info.value)
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font" * 10)
    with pytest.raises(FontNotFoundError, match="cannot be loaded"):
        find_font_stack(fallbacks=[bogus])


def test_a_stack_is_drawn_with_as_it_is(stack, font, card):
    with pytest.raises(ValueError, match="FontStack"):
        FontStack.of(stack, [font])
    assert FontStack.of(stack) is stack
    assert FontStack.of(font, []) == FontStack(font)
    assert render_card(card, stack) == render_card(card, font, fallbacks=stack.fallbacks)


@pytest.mark.skipif(not DEJAVU.exists(), reason="needs a non-CJK system font")
def test_fallback_font_supplies_the_characters_the_main_font_lacks(font, card):
    latin = FontSpec(DEJAVU)
    stack = FontStack(latin, (font,))
    assert [(f, run) for f, run in stack.runs("ID 工会 7")] == [
        (latin, "ID "),
        (font, "工会"),
        (latin, " 7"),
    ]
    png = render_card(card, latin, fallbacks=[font])
    assert decode_qr(png) == [VERIFY_URL]


async def test_async_rendering_matches_and_runs_concurrently(font, card):
    cards = [dataclasses.replace(card, member_name=n) for n in ("李雷", "韩梅梅", "王小二")]
    results = await asyncio.gather(*(render_card_async(c, font) for c in cards))
    assert results[0] == render_card(cards[0], font)
    assert len(set(results)) == 3
    assert all(decode_qr(png) == [VERIFY_URL] for png in results)


# ---------------------------------------------------------------- poster


def test_poster_png_is_a4_at_150_dpi_and_its_qr_decodes(font, poster):
    png = render_poster_png(poster, font)
    image = Image.open(io.BytesIO(png))
    assert image.size == PAGE_SIZE == (1240, 1754)
    assert image.info["dpi"] == pytest.approx((150, 150), abs=0.1)
    assert decode_qr(png) == [DEEP_LINK]


def test_poster_pdf_is_one_a4_page(font, poster):
    pdf = render_poster_pdf(poster, font)
    assert pdf.startswith(b"%PDF")
    parser = PdfParser.PdfParser(buf=pdf)
    assert len(parser.pages) == 1
    media_box = parser.read_indirect(parser.pages[0])[b"MediaBox"]
    assert media_box[2] == pytest.approx(595.3, abs=1)  # 210 mm in points
    assert media_box[3] == pytest.approx(841.9, abs=1)  # 297 mm
    assert render_poster_pdf(poster, font) == pdf  # no timestamps: reproducible


def test_poster_with_long_names_fits(font, poster):
    data = dataclasses.replace(
        poster,
        point_name="北京市西城区德胜街道新街口外大街28号德胜国际中心B座一层大堂物业服务中心旁职工之家",
        street_name="北京市西城区德胜街道新街口外大街与德外大街交汇处社区综合服务中心",
    )
    stack = FontStack(font)
    lay = layout_poster(data, stack)
    blocks = [lay.title, lay.point, lay.footer]
    for fitted in blocks:
        assert all(stack.length(x, fitted.size) <= lay.text_width for x in fitted.lines)
    for fitted in lay.steps:
        assert all(stack.length(x, fitted.size) <= lay.step_width for x in fitted.lines)
    assert decode_qr(render_poster_png(data, font)) == [DEEP_LINK]


def test_poster_names_the_street_union_and_the_joint_union(font, poster):
    # The street union runs the reception point and reviews; the joint union registers the
    # membership (docs/domain.md). Checked on what is laid out, i.e. drawn on the page.
    lay = layout_poster(poster, FontStack(font))
    assert "".join(lay.footer.lines) == "德胜街道总工会"
    assert "德胜街道总工会" in "".join(lay.steps[-1].lines)
    assert "德胜街道工会联合会" in poster.subtitle_text()
    assert poster.subtitle_text() in poster.texts()
    named = dataclasses.replace(poster, street_name="德胜街道工会")
    assert named.footer_text() == "德胜街道工会"
    assert "德胜街道工会联合会" in named.subtitle_text()


def test_card_names_the_joint_union(font, card):
    lay = layout_card(card, FontStack(font))
    assert "".join(lay.union_name.lines) == "北京市西城区德胜街道工会联合会"


def test_posters_written_for_points_name_their_street_union(tmp_path, font):
    from bot.posters import poster_data
    from bot.services.admin import PointRow

    point = PointRow("pAbc", "新街口社区", "community", "德胜街道", True)
    data = poster_data(point, "unionbot_demo_bot")
    assert data.footer_text() == "德胜街道总工会"
    assert "德胜街道工会联合会" in data.subtitle_text()
    assert decode_qr(render_poster_png(data, font)) == ["https://t.me/unionbot_demo_bot?start=pAbc"]


# ---------------------------------------------------------------- layout helpers


def test_wrap_keeps_latin_words_and_punctuation_together(font):
    stack = FontStack(font)
    lines = wrap(stack, "请用 Telegram 扫码，然后填写资料。", 30, 200)
    assert any("Telegram" in line for line in lines)
    assert not any(line.startswith(("，", "。")) for line in lines)


cjk_or_latin = st.text(
    alphabet=st.sampled_from("工会会员卡申请德胜街道北京市西城区职工服务站ABCxyz0123 ·（）、，"),
    min_size=1,
    max_size=80,
)


@settings(max_examples=80, deadline=None)
@given(
    text=cjk_or_latin,
    width=st.integers(120, 900),
    height=st.integers(20, 200),
    lines=st.integers(1, 3),
)
def test_fit_text_never_overflows(font, text, width, height, lines):
    stack = FontStack(font)
    fitted = fit_text(
        stack, text, max_width=width, max_height=height, max_size=40, min_size=14, max_lines=lines
    )
    assert 1 <= len(fitted.lines) <= lines
    assert all(stack.length(line, fitted.size) <= width for line in fitted.lines)
    block = fitted.size + fitted.line_height * (len(fitted.lines) - 1)
    assert block <= height
