"""Running counts behind the federation's statistics (invariant 14: summary tables proved
equal to the rows). Database triggers keep them (models/tally_triggers.py), whatever
writes the rows; `unionbot tallies check` compares them with a count of the rows and
`unionbot tallies rebuild` recounts them. A month is a Beijing month, YYYY-MM; a point id
of 0 stands for an application without a reception point. Rows whose count fell to 0 stay.
"""

from __future__ import annotations

from sqlalchemy import Integer, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded

# SQLite keeps these rows in their key's order (WITHOUT ROWID): a period's months are one
# contiguous range, read without a lookup per row.
CLUSTERED = {"sqlite_with_rowid": False}


class TallyApplication(Base):
    """Applications by the month they were submitted in and their status now."""

    __tablename__ = "tally_application"
    __table_args__ = CLUSTERED

    month: Mapped[str] = mapped_column(Bounded(7), primary_key=True)
    street_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    point_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(Bounded(12), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class TallyReview(Base):
    """Decided applications (approved or rejected now) by the month of the decision and
    the whole hours from submission to decision."""

    __tablename__ = "tally_review"
    __table_args__ = CLUSTERED

    month: Mapped[str] = mapped_column(Bounded(7), primary_key=True)
    street_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hours: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class TallyJoined(Base):
    """Members by the month they joined in (whatever their status now)."""

    __tablename__ = "tally_joined"
    __table_args__ = CLUSTERED

    month: Mapped[str] = mapped_column(Bounded(7), primary_key=True)
    street_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class TallyMember(Base):
    """Members by street, the reception point they applied at, status, 保留 (kept),
    transferred to an enterprise union, and the three items of the four ones done."""

    __tablename__ = "tally_member"
    __table_args__ = CLUSTERED

    street_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    point_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(Bounded(12), primary_key=True)
    kept: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    transferred: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    card: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    benefit: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    activity: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class TallyRegistry(Base):
    """Active registry enterprises by street (0: none) and whether they have a union."""

    __tablename__ = "tally_registry"
    __table_args__ = CLUSTERED

    street_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    has_union: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
