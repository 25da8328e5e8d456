"""The key check at start (`unionbot run`, and commands that use the keys): the configured
keys against the check values the database keeps (see bot/services/keycheck.py)."""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.db import Database
from bot.pii import LookupHasher, PiiCipher
from bot.services.audit import Actor
from bot.services.keycheck import LOOKUP_ID, KeyCheckService, KeyNames

log = logging.getLogger(__name__)


def key_names(settings: Settings) -> KeyNames:
    security = settings.security
    data = {key_id: f"security.old_data_keys.{key_id}" for key_id in security.old_data_keys}
    data[security.data_key_id] = "security.data_key"
    return KeyNames(data=data)


async def check_keys(settings: Settings, cipher: PiiCipher, hasher: LookupHasher) -> None:
    """Raise KeyMismatch (one line naming the key) unless the keys fit the database; on a
    database of its own, opened and closed here. Run after the database is upgraded."""
    db = Database(settings.database.url)
    try:
        recorded = await KeyCheckService(db, cipher, hasher).verify(
            key_names(settings), Actor.cli("unionbot")
        )
    finally:
        await db.dispose()
    for key_id in recorded:
        what = "security.lookup_key" if key_id == LOOKUP_ID else f"data key id {key_id}"
        log.debug("%s recorded in the database's key check (audited)", what)
