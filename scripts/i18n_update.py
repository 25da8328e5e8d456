"""Refresh the message catalogs from the source code.

Run from anywhere:  .venv/bin/python scripts/i18n_update.py

1. Extracts every `_()` / `gettext()` / `lazy_gettext()` message from the files matched by
   `babel.cfg` into `bot/locales/unionbot.pot` (like `pybabel extract -F babel.cfg -k _
   -k gettext -k lazy_gettext --no-location --sort-output`).
2. Updates each `bot/locales/<locale>/LC_MESSAGES/unionbot.po` from that template (like
   `pybabel update` without fuzzy matching): existing translations are kept, new messages
   are added empty, messages gone from the code become obsolete (`#~`) entries.
3. Prints how many messages each locale still lacks; the exit status is 0 either way.

Chinese is the source language, so there is no `zh` catalog.
"""

from __future__ import annotations

import sys
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
MAPPING_FILE = ROOT / "babel.cfg"
LOCALES_DIR = ROOT / "bot" / "locales"
DOMAIN = "unionbot"
POT_FILE = LOCALES_DIR / f"{DOMAIN}.pot"
TARGET_LOCALES = ("en",)
HEADER = {"project": DOMAIN, "version": "0.1.0", "copyright_holder": "unionbot contributors"}
KEYWORDS = {**DEFAULT_KEYWORDS, "_": None, "gettext": None, "lazy_gettext": None, "translate": None}


def po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract_catalog(root: Path = ROOT, mapping_file: Path = MAPPING_FILE) -> Catalog:
    """A template catalog of every translatable message in the source, with locations."""
    with mapping_file.open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, str(mapping_file))
    catalog = Catalog(charset="utf-8", fuzzy=False, **HEADER)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def message_ids(catalog: Catalog) -> set[str]:
    """The singular msgids of a catalog, without the header entry."""
    ids: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        ids.add(message.id[0] if isinstance(message.id, tuple | list) else message.id)
    return ids


def _render(catalog: Catalog, **options: bool) -> bytes:
    buffer = BytesIO()
    write_po(buffer, catalog, width=76, **options)
    return buffer.getvalue()


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def _keys(catalog: Catalog) -> set[tuple[object, object]]:
    return {(str(m.id), m.context) for m in catalog}


def write_template(template: Catalog, path: Path = POT_FILE) -> bool:
    """Write the .pot; an unchanged message list keeps the old creation date (no diff noise)."""
    if path.exists():
        with path.open("rb") as handle:
            previous = read_po(handle)
        if _keys(previous) == _keys(template):
            template.creation_date = previous.creation_date
    return _write_if_changed(path, _render(template, no_location=True, sort_output=True))


def update_locale(template: Catalog, locale: str) -> Catalog:
    """Merge the template into the locale's .po file (created if missing) and save it."""
    path = po_path(locale)
    if path.exists():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale, domain=DOMAIN)
    else:
        catalog = Catalog(locale=locale, domain=DOMAIN, fuzzy=False, **HEADER)
    # A message that comes back to the code gets its old (obsolete) translation back.
    for key, message in list(catalog.obsolete.items()):
        wanted = template.get(message.id, context=message.context) is not None
        if wanted and catalog.get(message.id, context=message.context) is None:
            catalog[message.id] = message
            del catalog.obsolete[key]
    catalog.update(template, no_fuzzy_matching=True)
    catalog.fuzzy = False
    _write_if_changed(path, _render(catalog, no_location=True, sort_output=True))
    return catalog


def untranslated(catalog: Catalog, ids: set[str]) -> list[str]:
    """Msgids from `ids` whose translation in `catalog` is missing, empty or fuzzy."""
    missing = []
    for msgid in sorted(ids):
        message = catalog.get(msgid)
        strings = message.string if message is not None else None
        empty = not all(strings) if isinstance(strings, tuple | list) else not strings
        if message is None or empty or message.fuzzy:
            missing.append(msgid)
    return missing


def main() -> int:
    template = extract_catalog()
    ids = message_ids(template)
    changed = write_template(template)
    status = "updated" if changed else "unchanged"
    print(f"{POT_FILE.relative_to(ROOT)}: {len(ids)} messages ({status})")
    for locale in TARGET_LOCALES:
        catalog = update_locale(template, locale)
        missing = untranslated(catalog, ids)
        obsolete = len(catalog.obsolete)
        print(
            f"{po_path(locale).relative_to(ROOT)}: {len(missing)} untranslated"
            f" of {len(ids)}, {obsolete} obsolete"
        )
        for msgid in missing:
            print(f"  - {msgid!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
