"""``facelive keys create | list | revoke | rotate``: the key store from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from facelive.auth.setup import open_key_store
from facelive.auth.store import ApiKey, IssuedKey
from facelive.settings import Settings


def key_record(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "app_key": key.app_key,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def issued_record(issued: IssuedKey) -> dict[str, Any]:
    return {
        "id": issued.key.id,
        "name": issued.key.name,
        "appcode": issued.appcode,
        "app_key": issued.key.app_key,
        "app_secret": issued.app_secret,
    }


def print_issued(issued: IssuedKey, as_json: bool) -> None:
    if as_json:
        print(json.dumps(issued_record(issued)))
        return
    print(f"key {issued.key.id} ({issued.key.name}); these secrets are shown only once:")
    print(f"  APPCODE    {issued.appcode}")
    print(f"  AppKey     {issued.key.app_key}")
    print(f"  AppSecret  {issued.app_secret}")


def run_keys(args: argparse.Namespace, settings: Settings) -> int:
    store = open_key_store(settings)
    try:
        if args.action == "create":
            print_issued(store.create_key(args.name), args.json)
        elif args.action == "list":
            records = [key_record(k) for k in store.list_keys()]
            if args.json:
                print(json.dumps(records))
            for r in [] if args.json else records:
                state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
                print(f"{r['id']}  {r['app_key']}  {state:34}  {r['name']}")
        elif args.action == "revoke":
            key = store.revoke(args.id)
            print(f"revoked {key.id} ({key.name})")
        else:
            print_issued(store.rotate(args.id), args.json)
    except KeyError:
        print(f"facelive: no key with id {args.id!r}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"facelive: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0
