"""Printable QR posters for reception points (受理点): A4 portrait, PNG or one-page PDF."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from bot.render.card import GOLD, HEADER_SUBTLE, INK, MUTED, PAPER, RED, RULE, WHITE, render_qr
from bot.render.fonts import FittedText, FontSpec, FontStack, fit_text

DPI = 150
PAGE_SIZE = (1240, 1754)  # A4 (210 × 297 mm) at 150 dpi
MARGIN = 110
HEADER_HEIGHT = 390
FOOTER_HEIGHT = 96
QR_BOX = 680
QR_TOP = HEADER_HEIGHT + 64
STEPS_TOP = QR_TOP + QR_BOX + 100
STEPS_BOTTOM = PAGE_SIZE[1] - FOOTER_HEIGHT - 50
EM_BASELINE = 0.88

DEFAULT_INSTRUCTIONS = (
    "用手机 Telegram 扫描上方二维码",
    "阅读隐私说明并同意",
    "填写姓名、身份证号、手机号、工作单位",
    "提交后等待街道工会审核，审核通过即可领取电子会员卡",
)


@dataclass(frozen=True)
class PosterData:
    street_name: str
    point_name: str
    deep_link: str
    title: str = "职工入会 扫码申请"
    subtitle: str = "所在单位尚未建立工会的职工，也可以申请加入工会"
    point_label: str = "受理点"
    steps_heading: str = "申请步骤"
    instructions: tuple[str, ...] = DEFAULT_INSTRUCTIONS
    footer: str = ""  # empty: "<street_name>总工会"

    def footer_text(self) -> str:
        if self.footer:
            return self.footer
        name = self.street_name
        return name if name.endswith("工会") else f"{name}总工会"

    def point_text(self) -> str:
        return f"{self.point_label}：{self.point_name}"

    def link_text(self) -> str:
        return self.deep_link.removeprefix("https://")

    def texts(self) -> list[str]:
        """Every string drawn on the poster (for the glyph check)."""
        numbers = [str(i) for i in range(1, len(self.instructions) + 1)]
        return [
            self.title,
            self.subtitle,
            self.point_text(),
            self.steps_heading,
            self.link_text(),
            self.footer_text(),
            *self.instructions,
            *numbers,
        ]


@dataclass(frozen=True)
class PosterLayout:
    title: FittedText
    point: FittedText
    steps: tuple[FittedText, ...]
    footer: FittedText
    text_width: int
    step_width: int


STEP_INDENT = 78


def layout_poster(data: PosterData, stack: FontStack) -> PosterLayout:
    """Fit every text block into its box (shrinking, then wrapping)."""
    width = PAGE_SIZE[0] - 2 * MARGIN
    step_width = width - STEP_INDENT
    per_step = _step_pitch(len(data.instructions))
    return PosterLayout(
        title=fit_text(
            stack, data.title, max_width=width, max_height=120, max_size=100, min_size=48
        ),
        point=fit_text(
            stack,
            data.point_text(),
            max_width=width,
            max_height=96,
            max_size=40,
            min_size=26,
            max_lines=2,
            leading=1.3,
        ),
        steps=tuple(
            fit_text(
                stack,
                step,
                max_width=step_width,
                max_height=per_step - 18,
                max_size=34,
                min_size=22,
                max_lines=2,
                leading=1.35,
            )
            for step in data.instructions
        ),
        footer=fit_text(
            stack, data.footer_text(), max_width=width, max_height=48, max_size=36, min_size=20
        ),
        text_width=width,
        step_width=step_width,
    )


def _step_pitch(count: int) -> int:
    """Vertical room for one step (steps share the space between heading and footer)."""
    return min(84, (STEPS_BOTTOM - (STEPS_TOP + 70)) // max(1, count))


def _baseline(top: float, size: int) -> float:
    return top + round(size * EM_BASELINE)


def _centered(
    draw: ImageDraw.ImageDraw,
    stack: FontStack,
    top: float,
    fitted: FittedText,
    fill: tuple[int, ...],
    *,
    bold: bool = False,
) -> float:
    """Draw each line centred on the page; return the top of the next line."""
    for line in fitted.lines:
        x = (PAGE_SIZE[0] - stack.length(line, fitted.size)) / 2
        stack.draw(draw, (x, _baseline(top, fitted.size)), line, fitted.size, fill, bold=bold)
        top += fitted.line_height
    return top


def _draw_header(img: Image.Image, data: PosterData, stack: FontStack, lay: PosterLayout) -> None:
    w = PAGE_SIZE[0]
    band = Image.new("RGB", (w, HEADER_HEIGHT), RED)
    deco = ImageDraw.Draw(band, "RGBA")
    deco.ellipse((w - 360, -260, w + 200, 300), fill=(120, 16, 24, 90))
    deco.ellipse((w - 200, 150, w + 160, 510), fill=(255, 255, 255, 14))
    img.paste(band, (0, 0))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, HEADER_HEIGHT, w, HEADER_HEIGHT + 8), fill=GOLD)
    top = _centered(draw, stack, 70, lay.title, WHITE, bold=True)
    sub = fit_text(
        stack, data.subtitle, max_width=lay.text_width, max_height=40, max_size=30, min_size=18
    )
    top = _centered(draw, stack, top + 6, sub, HEADER_SUBTLE)
    _centered(draw, stack, top + 34, lay.point, WHITE)


def _draw_qr(img: Image.Image, data: PosterData, stack: FontStack) -> None:
    draw = ImageDraw.Draw(img)
    left = (PAGE_SIZE[0] - QR_BOX) // 2
    draw.rounded_rectangle(
        (left, QR_TOP, left + QR_BOX, QR_TOP + QR_BOX), radius=28, fill=WHITE, outline=RULE, width=3
    )
    code = render_qr(data.deep_link, QR_BOX - 24)
    offset = (QR_BOX - code.width) // 2
    img.paste(code.convert("RGB"), (left + offset, QR_TOP + offset))
    link = fit_text(
        stack, data.link_text(), max_width=QR_BOX, max_height=30, max_size=24, min_size=14
    )
    _centered(draw, stack, QR_TOP + QR_BOX + 22, link, MUTED)


def _draw_steps(img: Image.Image, data: PosterData, stack: FontStack, lay: PosterLayout) -> None:
    draw = ImageDraw.Draw(img)
    heading_size = 36
    x = MARGIN
    stack.draw(
        draw,
        (x, _baseline(STEPS_TOP, heading_size)),
        data.steps_heading,
        heading_size,
        INK,
        bold=True,
    )
    rule_x = x + stack.length(data.steps_heading, heading_size) + 24
    rule_y = STEPS_TOP + heading_size // 2 + 2
    draw.line((rule_x, rule_y, PAGE_SIZE[0] - MARGIN, rule_y), fill=RULE, width=2)
    per_step = _step_pitch(len(lay.steps))
    for i, fitted in enumerate(lay.steps):
        top = STEPS_TOP + 70 + i * per_step
        _draw_badge(draw, stack, (x + 24, top + fitted.size // 2), str(i + 1))
        for j, line in enumerate(fitted.lines):
            y = _baseline(top + j * fitted.line_height, fitted.size)
            stack.draw(draw, (x + STEP_INDENT, y), line, fitted.size, INK)


def _draw_badge(
    draw: ImageDraw.ImageDraw, stack: FontStack, centre: tuple[int, int], number: str
) -> None:
    cx, cy = centre
    r = 22
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=RED)
    size = 28
    # Digits: cap height is about 0.72 em, so the baseline sits 0.36 em below the centre.
    x = cx - stack.length(number, size) / 2
    stack.draw(draw, (x, cy + round(size * 0.36)), number, size, WHITE)


def _draw_footer(img: Image.Image, stack: FontStack, lay: PosterLayout) -> None:
    w, h = PAGE_SIZE
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, h - FOOTER_HEIGHT, w, h), fill=RED)
    draw.rectangle((0, h - FOOTER_HEIGHT - 6, w, h - FOOTER_HEIGHT), fill=GOLD)
    top = h - FOOTER_HEIGHT + (FOOTER_HEIGHT - lay.footer.size) / 2
    _centered(draw, stack, top, lay.footer, WHITE, bold=True)


def render_poster_image(
    data: PosterData,
    font: FontSpec | FontStack,
    *,
    fallbacks: Sequence[FontSpec] | None = None,
) -> Image.Image:
    """The poster page as a Pillow image (RGB, 1240×1754); fonts as for render_card."""
    stack = FontStack.of(font, fallbacks)
    stack.require(data.texts())
    lay = layout_poster(data, stack)
    img = Image.new("RGB", PAGE_SIZE, PAPER)
    _draw_header(img, data, stack, lay)
    _draw_qr(img, data, stack)
    _draw_steps(img, data, stack, lay)
    _draw_footer(img, stack, lay)
    return img


def render_poster_png(
    data: PosterData,
    font: FontSpec | FontStack,
    *,
    fallbacks: Sequence[FontSpec] | None = None,
) -> bytes:
    """The poster as a PNG (A4 portrait at 150 dpi)."""
    out = io.BytesIO()
    render_poster_image(data, font, fallbacks=fallbacks).save(out, "PNG", dpi=(DPI, DPI))
    return out.getvalue()


def render_poster_pdf(
    data: PosterData,
    font: FontSpec | FontStack,
    *,
    fallbacks: Sequence[FontSpec] | None = None,
) -> bytes:
    """The poster as a one-page A4 PDF (the 150 dpi page, JPEG quality 95, no dates,
    so the bytes are the same for the same input)."""
    out = io.BytesIO()
    render_poster_image(data, font, fallbacks=fallbacks).save(
        out,
        "PDF",
        resolution=float(DPI),
        quality=95,
        subsampling=0,
        title=f"{data.title} · {data.point_name}",
        creationDate=None,
        modDate=None,
    )
    return out.getvalue()
