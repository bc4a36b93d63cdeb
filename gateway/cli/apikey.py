"""`gsmgw apikey create|list|revoke|scopes`: API keys for LAN apps."""

from __future__ import annotations

import argparse
import json
import sys

from gateway.cli.common import Commands, opened


def register(commands: Commands) -> None:
    apikey = commands.add_parser("apikey", help="API keys for LAN apps").add_subparsers(dest="apikey_command")
    key_create = apikey.add_parser("create", help="create a key and print it (the only time it is shown)")
    key_create.add_argument("--name", required=True, help="who uses it, e.g. 'web shop'")
    key_create.add_argument("--scopes", default="send,read",
                            help="comma-separated: send, contacts, read, admin (default: send,read)")
    key_create.add_argument("--json", action="store_true")
    key_create.set_defaults(func=_apikey_create)
    key_list = apikey.add_parser("list", help="keys with their prefix, scopes and state (never the key itself)")
    key_list.add_argument("--json", action="store_true")
    key_list.set_defaults(func=_apikey_list)
    key_revoke = apikey.add_parser("revoke", help="revoke a key at once (it stays in the list, revoked)")
    key_revoke.add_argument("id", type=int)
    key_revoke.set_defaults(func=_apikey_revoke)
    key_scopes = apikey.add_parser("scopes", help="give a key exactly these scopes (its token stays)")
    key_scopes.add_argument("id", type=int)
    key_scopes.add_argument("scopes", help="comma-separated: send, contacts, read, admin")
    key_scopes.set_defaults(func=_apikey_scopes)
    for sub in (key_create, key_list, key_revoke, key_scopes):
        sub.add_argument("--config")


def _apikey_create(args: argparse.Namespace) -> int:
    from gateway.apikeys import keys
    from gateway.core.clock import Clock

    with opened(args) as (_, queue, _):
        try:
            new = keys.create(queue.sessions, Clock(), args.name, args.scopes)
        except ValueError as exc:
            print(f"not created: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps({**new.info.as_dict(), "token": new.token, "signing_secret": new.signing_secret}, indent=2))
        return 0
    print(f"key {new.info.id} ({new.info.name}, scopes {','.join(sorted(new.info.scopes))}):")
    print(f"  {new.token}")
    print(f"signing secret for its callback_url webhooks: {new.signing_secret}")
    print("Store both now: they are not shown again.")
    return 0


def _apikey_list(args: argparse.Namespace) -> int:
    from gateway.apikeys import keys

    with opened(args) as (_, queue, _):
        listed = keys.list_keys(queue.sessions)
    if args.json:
        print(json.dumps([k.as_dict() for k in listed], indent=2))
        return 0
    for key in listed:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        print(f"{key.id:>4}  {key.prefix}…  {key.name:<20} {','.join(sorted(key.scopes)):<16} {state:<24} last used {used}")
    if not listed:
        print("no API keys (create one: gsmgw apikey create --name NAME --scopes send,read)")
    return 0


def _apikey_revoke(args: argparse.Namespace) -> int:
    from gateway.apikeys import keys
    from gateway.core.clock import Clock

    with opened(args) as (_, queue, _):
        key = keys.revoke(queue.sessions, Clock(), args.id)
    if key is None:
        print(f"no key {args.id}", file=sys.stderr)
        return 1
    print(f"key {key.id} ({key.name}) revoked")
    return 0


def _apikey_scopes(args: argparse.Namespace) -> int:
    from gateway.apikeys import keys

    with opened(args) as (_, queue, _):
        try:
            key = keys.set_scopes(queue.sessions, args.id, args.scopes)
        except ValueError as exc:
            print(f"not changed: {exc}", file=sys.stderr)
            return 2
    if key is None:
        print(f"no key {args.id}", file=sys.stderr)
        return 1
    print(f"key {key.id} ({key.name}): scopes {','.join(sorted(key.scopes))}")
    return 0
