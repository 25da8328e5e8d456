"""Checking the configured keys against the database before anything uses them.

A wrong `security.data_key` or `security.lookup_key` would otherwise start the bot and then
fail on every form, card and duplicate check. At the first start with a key, the database
keeps a check value made with it: for each data key id an AES-GCM ciphertext of a
constant, for the lookup key an HMAC of it. Later starts must reproduce them. A new data
key id (a rotation, the old key kept under [security.old_data_keys]) is recorded. A
database that holds data but no check values yet (made before this check existed) is
checked against its most recent applications before the keys are recorded.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database, dialect_insert
from bot.pii import LookupHasher, PiiCipher, PiiKeyError
from bot.services.audit import Actor, record
from bot.services.errors import DomainError
from models import Application, KeyCheck
from models.base import utcnow

CHECK_TEXT = "unionbot key check v1"
CONTEXT = "key-check"
LOOKUP_ID = "lookup"
SAMPLE = 20  # recent applications tried when a key meets a database without check values


class KeyMismatch(DomainError):
    """A configured key is not the one the database's data was made with; the message
    names the configuration key and never shows key material."""


@dataclass(frozen=True)
class KeyNames:
    """How the configuration names each key, for messages."""

    data: Mapping[str, str]  # key id → "security.data_key" or "security.old_data_keys.k0"
    lookup: str = "security.lookup_key"


@dataclass(frozen=True)
class _Sample:
    ric_cipher: bytes
    ric_hash: str


class KeyCheckService:
    def __init__(self, db: Database, cipher: PiiCipher, hasher: LookupHasher) -> None:
        self.db = db
        self.cipher = cipher
        self.hasher = hasher

    async def verify(self, names: KeyNames, actor: Actor) -> tuple[str, ...]:
        """Raise KeyMismatch for the first key that does not fit; record check values for
        keys seen for the first time and return their ids ("lookup" for the lookup key)."""
        async with self.db.transaction() as session:
            stored = {
                (row.kind, row.key_id): row.value for row in await session.scalars(select(KeyCheck))
            }
            self._check_none_missing(stored)
            samples: list[_Sample] | None = None
            recorded = []
            for key_id in self.cipher.key_ids:
                if ("data", key_id) not in stored:
                    samples = samples if samples is not None else await _samples(session)
                    self._check_against_data(key_id, names.data[key_id], samples)
                    blob = self.cipher.only(key_id).encrypt(CHECK_TEXT, context=CONTEXT)
                    stored[("data", key_id)] = await _keep(session, "data", key_id, blob)
                    recorded.append(key_id)
                if not self._opens(key_id, stored[("data", key_id)]):
                    raise KeyMismatch(_data_mismatch(key_id, names.data[key_id], self.cipher))
            if ("lookup", LOOKUP_ID) not in stored:
                samples = samples if samples is not None else await _samples(session)
                self._check_lookup_against_data(names.lookup, samples)
                stored[("lookup", LOOKUP_ID)] = await _keep(
                    session, "lookup", LOOKUP_ID, self._lookup_value()
                )
                recorded.append(LOOKUP_ID)
            if not hmac.compare_digest(stored[("lookup", LOOKUP_ID)], self._lookup_value()):
                raise KeyMismatch(
                    f"{names.lookup} does not match the key this database was set up with: "
                    "duplicate checks, bind codes and member-card checks would all fail; "
                    "put back the original key (it is not shown here)"
                )
            for key_id in recorded:
                await record(session, actor, "security.key_recorded", "key", key_id)
        return tuple(recorded)

    # ------------------------------------------------------------------------ checks

    def _check_none_missing(self, stored: Mapping[tuple[str, str], bytes]) -> None:
        known = set(self.cipher.key_ids)
        for kind, key_id in sorted(stored):
            if kind == "data" and key_id not in known:
                raise KeyMismatch(
                    f"this database holds data encrypted with key id {key_id}, which the "
                    f"configuration lacks: keep that key as security.old_data_keys.{key_id} "
                    f"(or set security.data_key_id back to {key_id} with its key)"
                )

    def _opens(self, key_id: str, blob: bytes) -> bool:
        try:
            if self.cipher.key_id_of(blob) != key_id:
                return False
            return self.cipher.decrypt(blob, context=CONTEXT) == CHECK_TEXT
        except PiiKeyError:
            return False

    def _check_against_data(self, key_id: str, name: str, samples: Sequence[_Sample]) -> None:
        for sample in samples:
            try:
                if self.cipher.key_id_of(sample.ric_cipher) != key_id:
                    continue
                self.cipher.decrypt(sample.ric_cipher, context="ric")
            except PiiKeyError:
                raise KeyMismatch(
                    f"{name} cannot read the id numbers this database already holds under key "
                    f"id {key_id}: put back the key they were stored with (it is not shown here)"
                ) from None

    def _check_lookup_against_data(self, name: str, samples: Sequence[_Sample]) -> None:
        for sample in samples:
            try:
                resident_id = self.cipher.decrypt(sample.ric_cipher, context="ric")
            except PiiKeyError:
                continue  # a key id that is no longer configured was refused above
            if resident_id and not hmac.compare_digest(
                self.hasher.digest(resident_id, context="ric"), sample.ric_hash
            ):
                raise KeyMismatch(
                    f"{name} does not match the look-up hashes this database already holds: "
                    "put back the key they were made with (it is not shown here)"
                )

    def _lookup_value(self) -> bytes:
        return self.hasher.digest(CHECK_TEXT, context=CONTEXT).encode("ascii")


def _data_mismatch(key_id: str, name: str, cipher: PiiCipher) -> str:
    text = (
        f"{name} does not match the key this database was set up with (key id {key_id}): "
        "the stored id numbers and mobiles cannot be read with it; put back the original key "
        "(it is not shown here)"
    )
    if key_id == cipher.current_key_id:
        text += (
            "; to rotate, give the new key a new security.data_key_id and keep the old one "
            "under [security.old_data_keys]"
        )
    return text


async def _samples(session: AsyncSession) -> list[_Sample]:
    rows = await session.execute(
        select(Application.ric_cipher, Application.ric_hash)
        .where(Application.anonymised_at.is_(None))
        .order_by(Application.id.desc())
        .limit(SAMPLE)
    )
    return [_Sample(bytes(blob), ric_hash) for blob, ric_hash in rows]


async def _keep(session: AsyncSession, kind: str, key_id: str, value: bytes) -> bytes:
    """Store a check value unless another process just did; return what is stored."""
    table = KeyCheck.__table__
    await session.execute(
        dialect_insert(session)(table)
        .values(kind=kind, key_id=key_id, value=value, created_at=utcnow())
        .on_conflict_do_nothing()
    )
    stored = await session.scalar(
        select(KeyCheck.value).where(KeyCheck.kind == kind, KeyCheck.key_id == key_id)
    )
    return bytes(stored)
