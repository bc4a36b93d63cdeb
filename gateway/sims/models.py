"""Tables of the SIMs: each modem and its SIM as last seen, and what each SIM sent when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
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


class SimSend(Base):
    """One part handed to the network, by the SIM that sent it: the rolling limit windows and sticky
    routing read this, so they follow the SIM (ICCID, else IMSI) wherever it is plugged in and
    whatever its modem is called. Each send is stamped on both clocks: the monotonic reading (with
    the boot it belongs to) measures how long ago it was even after the wall clock jumped; the
    wall-clock time serves sends of an earlier boot."""

    __tablename__ = "sim_sends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sim: Mapped[str] = mapped_column(String(64))  # gateway.sims.identity.sim_key
    modem: Mapped[str] = mapped_column(String(64))  # the modem it was in, for the record
    to_number: Mapped[str] = mapped_column(String(20))
    part_id: Mapped[int | None] = mapped_column(ForeignKey("message_parts.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    monotonic: Mapped[float | None] = mapped_column(Float)
    boot: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (
        Index("ix_sim_sends_sim_at", "sim", "at"),
        Index("ix_sim_sends_sim_boot_monotonic", "sim", "boot", "monotonic"),
        Index("ix_sim_sends_to_number", "to_number", "id"),  # the SIM a number last heard from
    )


class ClockOffset(Base):
    """The wall clock's offset from the monotonic one, as last seen in each boot: a change is NTP
    stepping the wall clock (gateway.outbound.clock_jumps), even one made while the daemon was down."""

    __tablename__ = "clock_offsets"

    boot: Mapped[str] = mapped_column(String(64), primary_key=True)
    wall_offset: Mapped[float] = mapped_column(Float)  # wall minus monotonic, seconds
