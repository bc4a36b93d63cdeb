"""The overrides table (one value per key, who set it and when) and the version the writes bump."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, UtcDateTime


class SettingOverride(Base):
    """A value that wins over the config file's until it is reset (deleted)."""

    __tablename__ = "setting_overrides"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    changed_by: Mapped[str | None] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SettingsVersion(Base):
    """One row: bumped by every write and reset, so running workers (of any gateway on the database)
    know with one small read that their snapshot is stale."""

    __tablename__ = "settings_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
