"""A bare QR code as PNG, for codes shown on a phone screen or printed on a slip."""

from __future__ import annotations

import io

from bot.render.card import render_qr


def render_claim_qr(link: str, size: int = 480) -> bytes:
    image = render_qr(link, size)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
