"""Member cards and reception-point posters, drawn with Pillow and a CJK font."""

from bot.render.card import CardData, render_card, render_card_async
from bot.render.fonts import (
    FontNotFoundError,
    FontSpec,
    FontStack,
    MissingGlyphsError,
    find_cjk_font,
    find_fallback_fonts,
    find_font_stack,
    missing_glyphs,
)
from bot.render.poster import PosterData, render_poster_pdf, render_poster_png

__all__ = [
    "CardData",
    "FontNotFoundError",
    "FontSpec",
    "FontStack",
    "MissingGlyphsError",
    "PosterData",
    "find_cjk_font",
    "find_fallback_fonts",
    "find_font_stack",
    "missing_glyphs",
    "render_card",
    "render_card_async",
    "render_poster_pdf",
    "render_poster_png",
]
