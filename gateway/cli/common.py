"""What the command groups share: the config they read, the queue they write through, a command's parser."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway.core import config as config_module

Commands = Any  # argparse's private _SubParsersAction: what add_subparsers returns


def add_command(commands: Commands, name: str, help_text: str) -> argparse.ArgumentParser:
    """A top-level command that reads the config file."""
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.add_argument("--config", help="config file (default: $GSMGW_CONFIG, then /etc/gsmgw/gsmgw.toml)")
    return sub


def config_of(args: argparse.Namespace, *, required: bool = True) -> config_module.Config:
    return config_module.load(getattr(args, "config", None), required=required)


def open_queue(cfg: config_module.Config):
    """(engine, queue, webhooks): the queue with the daemon's status hooks, so what a command
    changes reaches webhooks too (the running daemon delivers them)."""
    from gateway.core.clock import Clock
    from gateway.daemon import with_status_hooks
    from gateway.outbound.queue import Queue
    from gateway.store import db

    engine = db.make_engine(cfg.database_url)
    db.upgrade(engine)
    queue = Queue(db.sessions(engine), Clock(), default_region=cfg.gateway.default_region)
    return engine, queue, with_status_hooks(queue, queue.clock)


@contextmanager
def opened(args: argparse.Namespace) -> Iterator[tuple[config_module.Config, Any, Any]]:
    """(config, queue, webhooks) for one command (as `open_queue`); its database engine is let go
    when the command is done with them, however it ends."""
    cfg = config_of(args)
    engine, queue, webhooks = open_queue(cfg)
    try:
        yield cfg, queue, webhooks
    finally:
        engine.dispose()
