"""Member cards: signed verification tokens and the facts a card shows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.db import Database
from bot.pii import PiiCipher, mask_resident_id
from bot.services import outbox
from bot.services.membership import events_of
from models import Application, Member, UnionOrg

_TOKEN = re.compile(r"^([0-9a-z]{1,12})_([A-Za-z0-9_-]{12})$")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class CardSigner:
    """`start=v_<token>` deep links: short (≤ 27 characters) and unforgeable (72-bit HMAC)."""

    def __init__(self, lookup_key: bytes, purpose: bytes = b"unionbot card token v1") -> None:
        # A sub-key per purpose, so card tokens, other signed codes (benefit redemptions)
        # and look-up hashes never share a key: one kind of code never passes as another.
        self._key = hmac.new(lookup_key, purpose, hashlib.sha256).digest()

    def token(self, member_id: int) -> str:
        ident = _base36(member_id)
        return f"{ident}_{self._mac(ident)}"

    def member_id(self, token: str) -> int | None:
        match = _TOKEN.match(token)
        if match is None or not hmac.compare_digest(match[2], self._mac(match[1])):
            return None
        return int(match[1], 36)

    def _mac(self, ident: str) -> str:
        digest = hmac.new(self._key, ident.encode(), hashlib.sha256).digest()[:9]
        return base64.urlsafe_b64encode(digest).decode()


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _ALPHABET[rest] + digits
        if number == 0:
            return digits


@dataclass(frozen=True)
class CardFacts:
    member_id: int
    member_number: str
    name: str
    masked_id: str
    union_name: str
    joined_at: datetime
    active: bool
    telegram_user_id: int | None  # None until a paper application is claimed
    # The last move of the membership (会籍接转): from which union, when.
    moved_from: str | None = None
    moved_at: datetime | None = None


class CardService:
    def __init__(self, db: Database, cipher: PiiCipher, signer: CardSigner) -> None:
        self.db = db
        self.cipher = cipher
        self.signer = signer

    async def facts(self, member_id: int) -> CardFacts | None:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Member, Application, UnionOrg.name)
                    .join(Application, Application.id == Member.application_id)
                    .join(UnionOrg, UnionOrg.id == Member.union_org_id)
                    .where(Member.id == member_id)
                )
            ).first()
        if row is None:
            return None
        member, application, union_name = row
        resident_id = self.cipher.decrypt(application.ric_cipher, context="ric")
        async with self.db.read() as session:
            history = await events_of(session, member.id)
        return CardFacts(
            member.id,
            member.number,
            application.name,
            mask_resident_id(resident_id),
            union_name,
            member.joined_at,
            member.status == "active",
            member.telegram_user_id,
            history[-1].from_union if history else None,
            history[-1].at if history else None,
        )

    async def resend(self, user_id: int) -> bool:
        """Queue the member's card again; False if this person is not a member."""
        async with self.db.transaction() as session:
            member_id = await session.scalar(
                select(Member.id).where(
                    Member.telegram_user_id == user_id, Member.status == "active"
                )
            )
            if member_id is None:
                return False
            await outbox.enqueue(session, user_id, "member_card", member_id=member_id)
            return True

    async def verify(self, token: str) -> CardFacts | None:
        """The card behind a verification token, or None if the token is forged."""
        member_id = self.signer.member_id(token)
        return None if member_id is None else await self.facts(member_id)
