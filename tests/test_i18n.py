"""The English catalog covers every message in the code, and translations keep their markup.

Messages are extracted from the current source with the same function as
`scripts/i18n_update.py`, so a string added to the code without a translation fails here.
To fix a failure: run `.venv/bin/python scripts/i18n_update.py`, then fill in the listed
msgids in `bot/locales/en/LC_MESSAGES/unionbot.po`.
"""

from __future__ import annotations

import importlib.util
import re
import string
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.i18n import LOCALES, SOURCE_LOCALE, build_i18n

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "i18n_update.py"
EN_PO = ROOT / "bot" / "locales" / "en" / "LC_MESSAGES" / "unionbot.po"
HOW_TO_FIX = (
    "run `.venv/bin/python scripts/i18n_update.py` and edit bot/locales/en/LC_MESSAGES/unionbot.po"
)

TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9-]*)[^>]*>")
COMMAND = re.compile(r"(?<![\w/<])/[a-z][a-z0-9_]*")


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("i18n_update", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def source_ids() -> list[str]:
    script = _load_script()
    ids = sorted(script.message_ids(script.extract_catalog()))
    assert ids, "no translatable messages were extracted; is babel.cfg right?"
    return ids


@pytest.fixture(scope="module")
def english() -> Catalog:
    with EN_PO.open("rb") as handle:
        return read_po(handle, locale="en", domain="unionbot")


@pytest.fixture(scope="module")
def pairs(source_ids: list[str], english: Catalog) -> list[tuple[str, str]]:
    """(msgid, translation) for every source message that has a usable translation."""
    found = []
    for msgid in source_ids:
        message = english.get(msgid)
        if message is not None and isinstance(message.string, str) and message.string:
            found.append((msgid, message.string))
    return found


def _report(title: str, offenders: list[str]) -> str:
    listed = "\n".join(f"  - {item}" for item in offenders)
    return f"{len(offenders)} {title} ({HOW_TO_FIX}):\n{listed}"


def _mismatches(pairs: list[tuple[str, str]], key: Callable[[str], object]) -> list[str]:
    return [
        f"{msgid!r}: expected {key(msgid)!r}, got {key(text)!r} in {text!r}"
        for msgid, text in pairs
        if key(msgid) != key(text)
    ]


def placeholders(text: str) -> set[str]:
    """`{name}`, `{name!r}`, `{name:spec}` fields as written; `{{`/`}}` are not fields."""
    fields = set()
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            conv = f"!{conversion}" if conversion else ""
            fields.add(f"{{{name}{conv}{':' + spec if spec else ''}}}")
    return fields


def tags(text: str) -> Counter[str]:
    """Opening and closing HTML tags by name, e.g. {"b": 1, "/b": 1}."""
    return Counter(f"{slash}{name.lower()}" for slash, name in TAG.findall(text))


def commands(text: str) -> Counter[str]:
    return Counter(COMMAND.findall(text))


def test_every_message_has_an_english_translation(source_ids: list[str], english: Catalog) -> None:
    missing = []
    for msgid in source_ids:
        message = english.get(msgid)
        if message is None:
            missing.append(f"{msgid!r} (not in the catalog)")
        elif not isinstance(message.string, str) or not message.string.strip():
            missing.append(f"{msgid!r} (empty translation)")
        elif message.fuzzy:
            missing.append(f"{msgid!r} (marked fuzzy, so it is not used)")
    assert not missing, _report("messages lack an English translation", missing)


def test_translations_keep_placeholders(pairs: list[tuple[str, str]]) -> None:
    wrong = _mismatches(pairs, placeholders)
    assert not wrong, _report("translations change the {placeholders}", wrong)


def test_translations_keep_html_tags(pairs: list[tuple[str, str]]) -> None:
    wrong = _mismatches(pairs, tags)
    assert not wrong, _report("translations change the HTML tags", wrong)


def test_translations_keep_line_breaks_and_commands(pairs: list[tuple[str, str]]) -> None:
    wrong = _mismatches(pairs, lambda text: text.count("\n"))
    wrong += _mismatches(pairs, commands)
    assert not wrong, _report("translations change line breaks or /commands", wrong)


def test_runtime_catalogs_translate() -> None:
    i18n = build_i18n()
    assert set(LOCALES) <= set(i18n.available_locales)
    expected = {
        "跳过": "Skip",
        "语言已切换为中文。": "Language switched to English.",
        "✅ 通过": "✅ Approve",
        "姓名：{v}": "Name: {v}",
    }
    for msgid, text in expected.items():
        assert i18n.gettext(msgid, locale="en") == text
        assert i18n.gettext(msgid, locale=SOURCE_LOCALE) == msgid
    with i18n.use_locale("en"):
        assert i18n.gettext("跳过") == "Skip"
    assert i18n.gettext("跳过") == "跳过"  # the default locale is Chinese


def test_helpers_see_what_they_should() -> None:
    assert placeholders("{a}，{b!r} {c:>3} {{literal}}") == {"{a}", "{b!r}", "{c:>3}"}
    assert tags("<b>x</b> <a href='u'>y</a>") == Counter({"b": 1, "/b": 1, "a": 1, "/a": 1})
    assert commands("发送 /start 或 <b>/cancel</b>。/lang — 切换语言 / Language") == Counter(
        {"/start": 1, "/cancel": 1, "/lang": 1}
    )
