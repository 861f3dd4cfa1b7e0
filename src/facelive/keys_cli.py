"""``facelive keys create | list | revoke | rotate | limits | usage | recent``: the key store
from the command line, through the same functions as the console (``facelive.auth.admin``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from facelive.auth import admin
from facelive.auth.records import IssuedKey
from facelive.auth.setup import open_key_store
from facelive.auth.store import KeyStore
from facelive.settings import Settings

T = TypeVar("T", int, float)
DEFAULT = "default"


def limit_value(kind: Callable[[str], T]) -> Callable[[str], T | str]:
    """argparse type for a limit: a number, or ``default`` for the server's default."""

    def parse(text: str) -> T | str:
        if text.strip().lower() == DEFAULT:
            return DEFAULT
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number or 'default': {text!r}") from None

    return parse


def add_key_commands(keys: argparse.ArgumentParser) -> None:
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key; its secrets are shown once")
    create.add_argument("--name", required=True)
    create.add_argument("--json", action="store_true")
    listing = actions.add_parser("list", help="list keys and their limits (never secrets)")
    listing.add_argument("--json", action="store_true")
    revoke = actions.add_parser("revoke", help="revoke a key at once, in every worker")
    revoke.add_argument("id")
    rotate = actions.add_parser("rotate", help="new AppCode and AppSecret for a key")
    rotate.add_argument("id")
    rotate.add_argument("--json", action="store_true")
    limits = actions.add_parser(
        "limits",
        help="set a key's own limits ('default': the server's); unnamed ones are kept",
    )
    limits.add_argument("id")
    limits.add_argument("--rps", type=limit_value(float), help="requests per second")
    limits.add_argument("--burst", type=limit_value(int), help="requests at once above --rps")
    limits.add_argument("--daily", type=limit_value(int), help="requests per UTC day")
    limits.add_argument("--json", action="store_true")
    usage = actions.add_parser("usage", help="responses per UTC day and code")
    usage.add_argument("id", nargs="?", help="one key (default: all)")
    usage.add_argument("--days", type=int, default=14, help="days back, today included")
    usage.add_argument("--json", action="store_true")
    recent = actions.add_parser("recent", help="the latest requests (metadata only)")
    recent.add_argument("--key", help="one key's requests only")
    recent.add_argument("--limit", type=int, default=20)
    recent.add_argument("--json", action="store_true")


def print_issued(issued: IssuedKey, as_json: bool) -> None:
    _print_issued(admin.issued_record(issued), as_json)


def _print_issued(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(record))
        return
    print(f"key {record['id']} ({record['name']}); these secrets are shown only once:")
    print(f"  APPCODE    {record['appcode']}")
    print(f"  AppKey     {record['app_key']}")
    print(f"  AppSecret  {record['app_secret']}")


def _limits_text(limits: dict[str, Any]) -> str:
    def show(value: Any) -> str:
        return "default" if value is None else f"{value:g}"

    return (
        f"rps {show(limits['rps'])} burst {show(limits['burst'])} "
        f"daily {show(limits['daily_quota'])}"
    )


def _list(store: KeyStore, as_json: bool) -> None:
    records = admin.list_keys(store)
    if as_json:
        print(json.dumps(records))
        return
    for r in records:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        limits = _limits_text(r["limits"])
        print(
            f"{r['id']}  {r['app_key']}  {state:34}  {limits}  today {r['used_today']}  {r['name']}"
        )


def _limits(store: KeyStore, args: argparse.Namespace) -> None:
    key = store.get_key(args.id)
    if key is None:
        raise KeyError(args.id)
    current = admin.limits_record(key.limits)
    given = {"rps": args.rps, "burst": args.burst, "daily_quota": args.daily}
    chosen = {
        name: (None if value == DEFAULT else value) if value is not None else current[name]
        for name, value in given.items()
    }
    record = admin.set_limits(store, args.id, **chosen)
    if args.json:
        print(json.dumps(record))
    else:
        print(f"{record['id']} ({record['name']}): {_limits_text(record['limits'])}")


def _usage(store: KeyStore, args: argparse.Namespace) -> None:
    report = admin.usage_report(store, args.id, days=args.days)
    if args.json:
        print(json.dumps(report))
        return
    print(f"responses from {report['since']} to {report['until']} (UTC days)")
    print(f"{'day':10}  {'key':16}  {'code':>5}  {'count':>7}")
    for r in report["rows"]:
        print(f"{r['day']:10}  {r['key_id']:16}  {r['code']:>5}  {r['count']:>7}")


def _recent(store: KeyStore, args: argparse.Namespace) -> None:
    rows = admin.recent_requests(store, args.limit, args.key)
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'time (UTC)':26}  {'key':16}  {'code':>5}  {'score':>8}  {'ms':>8}  request_id")
    for r in rows:
        score = "-" if r["score"] is None else f"{r['score']:.4f}"
        print(
            f"{r['at'][:26]:26}  {r['key_id']:16}  {r['code']:>5}  {score:>8}  "
            f"{r['latency_ms']:>8.1f}  {r['request_id']}"
        )


def run_keys(args: argparse.Namespace, settings: Settings) -> int:
    store = open_key_store(settings)
    try:
        if args.action == "create":
            _print_issued(admin.create_key(store, args.name), args.json)
        elif args.action == "list":
            _list(store, args.json)
        elif args.action == "revoke":
            key = admin.revoke_key(store, args.id)
            print(f"revoked {key['id']} ({key['name']})")
        elif args.action == "rotate":
            _print_issued(admin.rotate_key(store, args.id), args.json)
        elif args.action == "limits":
            _limits(store, args)
        elif args.action == "usage":
            _usage(store, args)
        else:
            _recent(store, args)
    except KeyError as exc:
        print(f"facelive: no key with id {exc.args[0]!r}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"facelive: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0
