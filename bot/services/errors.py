"""Domain errors raised by services; handlers turn them into polite messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class DomainError(Exception):
    """Base class: something the user asked for cannot be done as asked."""


class NotAllowed(DomainError):
    """The actor has no role that permits this action."""


class NotFound(DomainError):
    pass


@dataclass
class AlreadyDecided(DomainError):
    status: str
    decided_by: str
    decided_at: datetime


@dataclass
class OpenApplicationExists(DomainError):
    number: str
    submitted_at: datetime


@dataclass
class AlreadyMember(DomainError):
    member_number: str


@dataclass
class AlreadyFollowed(DomainError):
    by: str
    at: datetime


class ConsentMissing(DomainError):
    """Nothing may be stored without the worker's recorded consent."""
