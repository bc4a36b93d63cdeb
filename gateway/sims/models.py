"""Tables of the SIMs: each modem and its SIM as last seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, UtcDateTime


class Modem(Base):
    """A modem/SIM as last seen: identity and state, for status pages and stickiness."""

    __tablename__ = "modems"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="stopped")
    reason: Mapped[str | None] = mapped_column(Text)
    manufacturer: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    imei: Mapped[str | None] = mapped_column(String(32))
    imsi: Mapped[str | None] = mapped_column(String(32))
    iccid: Mapped[str | None] = mapped_column(String(32))
    operator: Mapped[str | None] = mapped_column(String(64))
    signal_bars: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
