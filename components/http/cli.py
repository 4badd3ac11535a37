"""`orge auth create-token NAME`, `orge auth list`, `orge auth revoke NAME`.

create-token prints the token once, as the last line of stdout; only its salted hash is
stored. A running station picks the change up within a second.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_commands(subparsers: Any) -> None:
    auth = subparsers.add_parser("auth", help="manage long-lived API access tokens")
    commands = auth.add_subparsers(dest="auth_command", metavar="ACTION")

    def config_arg(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-c", "--config", default="config", metavar="DIR", help="configuration directory"
        )

    create = commands.add_parser("create-token", help="create a token and print it once")
    create.add_argument("name", help="a name to recognise (and revoke) the token by")
    config_arg(create)
    create.set_defaults(func=cmd_create)

    listing = commands.add_parser("list", help="list the tokens (names, never the tokens)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    config_arg(listing)
    listing.set_defaults(func=cmd_list)

    revoke = commands.add_parser("revoke", help="revoke the token of this name")
    revoke.add_argument("name")
    config_arg(revoke)
    revoke.set_defaults(func=cmd_revoke)

    auth.set_defaults(func=lambda args: (auth.print_help(), 2)[1])


def cmd_create(args: argparse.Namespace) -> int:
    from orge.config import find_config_dir

    from .auth import create_token

    config_dir = find_config_dir(args.config)
    try:
        token = create_token(config_dir, args.name)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"Created token {args.name!r} in {config_dir}. It is shown only now; keep it safe:")
    print(token)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from orge.config import find_config_dir

    from .auth import load_entries

    try:
        entries = load_entries(find_config_dir(args.config))
    except (ValueError, OSError, KeyError) as err:
        print(f"error: cannot read the tokens: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([e.public() for e in entries], indent=2))
    elif not entries:
        print("No tokens. Create one with: orge auth create-token NAME")
    else:
        for entry in entries:
            print(f"{entry.name}\tcreated {entry.created}\tid {entry.id}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from orge.config import find_config_dir

    from .auth import revoke_token

    try:
        found = revoke_token(find_config_dir(args.config), args.name)
    except (ValueError, OSError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if not found:
        print(f"error: no token named {args.name!r}", file=sys.stderr)
        return 1
    print(f"Revoked token {args.name!r}.")
    return 0
