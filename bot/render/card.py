"""The electronic member card (会员卡): a 1000×630 PNG with a verification QR code."""

from __future__ import annotations

import asyncio
import datetime
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import qrcode
from PIL import Image, ImageDraw
from qrcode.constants import ERROR_CORRECT_M

from bot.render.fonts import FittedText, FontSpec, FontStack, fit_text

# ID-1 card ratio (85.60 × 53.98 mm).
CARD_SIZE = (1000, 630)
MARGIN = 56
HEADER_HEIGHT = 184
BACKGROUNDS = 32  # cards' shared parts kept drawn: one per union and language
QR_BOX = 262  # white square holding the code and its quiet zone
QR_QUIET = 4  # quiet zone, in modules (ISO/IEC 18004)
# Any of the eight masks is a valid code (the reader learns it from the format bits);
# choosing the best one evaluates all eight in pure Python, which holds the GIL for
# about 5 ms a card and delayed the event loop's sends while cards were drawn.
QR_MASK = 0

RED = (179, 32, 42)
RED_DARK = (140, 20, 30)
GOLD = (214, 168, 78)
PAPER = (251, 248, 243)
INK = (33, 28, 25)
MUTED = (134, 124, 116)
RULE = (232, 224, 213)
WHITE = (255, 255, 255)
HEADER_SUBTLE = (255, 226, 220)

# Baseline of an ideograph whose em box starts at `top` is top + 0.88 em.
EM_BASELINE = 0.88


@dataclass(frozen=True)
class CardData:
    union_name: str
    member_name: str
    member_number: str
    join_date: datetime.date
    masked_id: str
    verify_url: str
    title: str = "工会会员卡"
    name_label: str = "姓名"
    number_label: str = "会员编号"
    join_date_label: str = "入会日期"
    id_label: str = "身份证号"
    verify_caption: str = "扫码验证"
    notice: str = "电子会员卡 · 仅限本人使用"

    def join_date_text(self) -> str:
        d = self.join_date
        return f"{d.year}年{d.month}月{d.day}日"

    def fields(self) -> list[tuple[str, str]]:
        """(label, value) rows in display order."""
        return [
            (self.name_label, self.member_name),
            (self.number_label, self.member_number),
            (self.join_date_label, self.join_date_text()),
            (self.id_label, self.masked_id),
        ]

    def texts(self) -> list[str]:
        """Every string drawn on the card (for the glyph check)."""
        return [
            self.title,
            self.union_name,
            self.verify_caption,
            self.notice,
            *(s for row in self.fields() for s in row),
        ]


@dataclass(frozen=True)
class CardLayout:
    """Where things go; computed from the data so tests can check that text fits."""

    union_name: FittedText
    union_name_box: tuple[int, int, int, int]  # left, top, width, height
    label_width: int
    values: tuple[FittedText, ...]
    value_width: int


# ---------------------------------------------------------------- QR codes


def render_qr(data: str, max_size: int) -> Image.Image:
    """A black-on-white QR code (error correction M) with a 4-module quiet zone,
    scaled by a whole number of pixels per module to at most `max_size` square."""
    qr = qrcode.QRCode(
        error_correction=ERROR_CORRECT_M, border=QR_QUIET, box_size=1, mask_pattern=QR_MASK
    )
    qr.add_data(data)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    n = len(matrix)
    scale = max_size // n
    if scale < 1:
        raise ValueError(f"QR code of {n} modules does not fit in {max_size} px")
    small = Image.new("L", (n, n), 255)
    small.putdata([0 if dark else 255 for row in matrix for dark in row])
    return small.resize((n * scale, n * scale), Image.Resampling.NEAREST)


# ---------------------------------------------------------------- layout


def _baseline(top: float, size: int) -> float:
    return top + round(size * EM_BASELINE)


def _row_tops() -> list[int]:
    return [HEADER_HEIGHT + 44 + i * 84 for i in range(4)]


def layout_card(data: CardData, stack: FontStack) -> CardLayout:
    """Fit the union name into the header and the values into the field column."""
    return _with_values(_layout_shared(data, stack), data, stack)


def _layout_shared(data: CardData, stack: FontStack) -> CardLayout:
    """The layout of what every card of a union has (values left empty)."""
    name_box = (MARGIN, 106, CARD_SIZE[0] - 2 * MARGIN, 56)
    union = fit_text(
        stack,
        data.union_name,
        max_width=name_box[2],
        max_height=name_box[3],
        max_size=30,
        min_size=16,
        max_lines=2,
        leading=1.25,
    )
    label_width = max(round(stack.length(label, 24)) for label, _ in data.fields()) + 32
    qr_left = CARD_SIZE[0] - MARGIN - QR_BOX
    value_width = qr_left - 40 - (MARGIN + label_width)
    return CardLayout(union, name_box, label_width, (), value_width)


def _with_values(shared: CardLayout, data: CardData, stack: FontStack) -> CardLayout:
    values = tuple(
        fit_text(
            stack,
            value,
            max_width=shared.value_width,
            max_height=48,
            max_size=40 if i == 0 else 32,
            min_size=18,
        )
        for i, (_, value) in enumerate(data.fields())
    )
    return replace(shared, values=values)


# ---------------------------------------------------------------- drawing


def _header_band() -> Image.Image:
    """The red band with two soft circles, clipped to the band."""
    w = CARD_SIZE[0]
    band = Image.new("RGB", (w, HEADER_HEIGHT), RED)
    draw = ImageDraw.Draw(band, "RGBA")
    draw.ellipse((w - 250, -150, w + 110, 210), fill=(*RED_DARK, 90))
    draw.ellipse((w - 150, 60, w + 130, 340), fill=(255, 255, 255, 16))
    return band


def _draw_header(img: Image.Image, data: CardData, stack: FontStack, lay: CardLayout) -> None:
    img.paste(_header_band(), (0, 0))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, HEADER_HEIGHT, CARD_SIZE[0], HEADER_HEIGHT + 5), fill=GOLD)
    stack.draw(draw, (MARGIN, _baseline(34, 50)), data.title, 50, WHITE, bold=True)
    left, top, _, height = lay.union_name_box
    fitted = lay.union_name
    block = fitted.size + fitted.line_height * (len(fitted.lines) - 1)
    top += (height - block) // 2  # centre the block vertically in its box
    for i, line in enumerate(fitted.lines):
        y = _baseline(top + i * fitted.line_height, fitted.size)
        stack.draw(draw, (left, y), line, fitted.size, HEADER_SUBTLE)


def _draw_labels(img: Image.Image, data: CardData, stack: FontStack, lay: CardLayout) -> None:
    draw = ImageDraw.Draw(img)
    value_left = MARGIN + lay.label_width
    for i, ((label, _), top) in enumerate(zip(data.fields(), _row_tops(), strict=True)):
        baseline = _baseline(top, 40) - 2
        stack.draw(draw, (MARGIN, baseline), label, 24, MUTED)
        if i < 3:
            rule_y = baseline + 26
            draw.line((MARGIN, rule_y, value_left + lay.value_width, rule_y), fill=RULE, width=1)


def _draw_values(img: Image.Image, stack: FontStack, lay: CardLayout) -> None:
    draw = ImageDraw.Draw(img)
    value_left = MARGIN + lay.label_width
    for i, (fitted, top) in enumerate(zip(lay.values, _row_tops(), strict=True)):
        baseline = _baseline(top, 40) - 2
        stack.draw(draw, (value_left, baseline), fitted.lines[0], fitted.size, INK, bold=i == 0)


def _qr_top_left() -> tuple[int, int]:
    return CARD_SIZE[0] - MARGIN - QR_BOX, _row_tops()[0] - 8


def _draw_qr_box(img: Image.Image, data: CardData, stack: FontStack) -> None:
    draw = ImageDraw.Draw(img)
    left, top = _qr_top_left()
    draw.rounded_rectangle(
        (left, top, left + QR_BOX, top + QR_BOX), radius=14, fill=WHITE, outline=RULE, width=2
    )
    caption_width = stack.length(data.verify_caption, 22)
    x = left + (QR_BOX - caption_width) / 2
    stack.draw(draw, (x, _baseline(top + QR_BOX + 14, 22)), data.verify_caption, 22, MUTED)


def _draw_qr(img: Image.Image, data: CardData) -> None:
    left, top = _qr_top_left()
    code = render_qr(data.verify_url, QR_BOX - 6)
    offset = (QR_BOX - code.width) // 2
    img.paste(code.convert("RGB"), (left + offset, top + offset))


def _draw_footer(img: Image.Image, data: CardData, stack: FontStack) -> None:
    draw = ImageDraw.Draw(img)
    w, h = CARD_SIZE
    draw.rectangle((0, h - 10, w, h), fill=RED)
    stack.draw(draw, (MARGIN, h - 34), data.notice, 18, MUTED)


def render_card(
    data: CardData,
    font: FontSpec | FontStack,
    *,
    fallbacks: Sequence[FontSpec] | None = None,
) -> bytes:
    """The member card as PNG bytes; same input, same bytes.

    `font` is the bot's font stack, or a main font whose missing characters come from
    `fallbacks` (None: the fallback fonts of this machine). If no font has some character,
    MissingGlyphsError is raised before anything is drawn.
    """
    stack = FontStack.of(font, fallbacks)
    stack.require(data.texts())
    background, shared = _background(_shared_part(data), stack)
    img = background.copy()
    _draw_values(img, stack, _with_values(shared, data, stack))
    _draw_qr(img, data)
    out = io.BytesIO()
    img.save(out, "PNG", compress_level=6)
    return out.getvalue()


def _shared_part(data: CardData) -> CardData:
    """The card without what is the member's own."""
    return replace(
        data, member_name="", member_number="", join_date=datetime.date.min, masked_id="",
        verify_url="",
    )  # fmt: skip


@lru_cache(maxsize=BACKGROUNDS)
def _background(shared: CardData, stack: FontStack) -> tuple[Image.Image, CardLayout]:
    """What a union's cards have in common, drawn once: drawing text holds the GIL, which
    the bot's event loop needs while a card is drawn in a worker thread (a burst of new
    cards held sends past their slots)."""
    lay = _layout_shared(shared, stack)
    img = Image.new("RGB", CARD_SIZE, PAPER)
    _draw_header(img, shared, stack, lay)
    _draw_labels(img, shared, stack, lay)
    _draw_qr_box(img, shared, stack)
    _draw_footer(img, shared, stack)
    return img, lay


async def render_card_async(
    data: CardData,
    font: FontSpec | FontStack,
    *,
    fallbacks: Sequence[FontSpec] | None = None,
) -> bytes:
    """render_card in a worker thread, keeping the event loop free."""
    return await asyncio.to_thread(render_card, data, font, fallbacks=fallbacks)
