"""Translations: Chinese is the source language, other locales come from gettext catalogs.

Catalogs are kept as .po files (Babel) and compiled in memory at start, so there is no
build step and no stale .mo file.
"""

from __future__ import annotations

import gettext
from io import BytesIO
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "unionbot"
SOURCE_LOCALE = "zh"
LOCALES = ("zh", "en")


def load_catalogs(path: Path = LOCALES_DIR) -> dict[str, gettext.GNUTranslations]:
    found: dict[str, gettext.GNUTranslations] = {}
    for po_path in sorted(path.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        buffer = BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        found[locale] = gettext.GNUTranslations(buffer)
    # The source language needs no catalog: msgids are already Chinese.
    found.setdefault(SOURCE_LOCALE, gettext.NullTranslations())  # type: ignore[arg-type]
    return found


class CatalogI18n(I18n):
    """aiogram's I18n, reading .po catalogs instead of compiled .mo files."""

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        return load_catalogs(self.path)


def build_i18n(default_locale: str = SOURCE_LOCALE) -> CatalogI18n:
    return CatalogI18n(path=LOCALES_DIR, default_locale=default_locale, domain=DOMAIN)


def translate(message: str) -> str:
    """gettext for the current locale (set per update by the locale middleware).

    Not aiogram's helper: that one looks for the I18n *class's* context variable, and
    every subclass of I18n gets a context variable of its own.
    """
    return CatalogI18n.get_current().gettext(message)


def pick_locale(preference: str | None, telegram_language: str | None, default: str) -> str:
    """A stored choice wins; otherwise Telegram's language if we speak it; else the default."""
    if preference in LOCALES:
        return preference
    if telegram_language:
        base = telegram_language.split("-")[0].lower()
        if base in LOCALES:
            return base
    return default
