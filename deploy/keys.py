"""New keys for a deployment, printed as the environment variables that take them.

    python -m deploy.keys            # every service's event-signing key, and EVENT_PUBLIC_KEYS
    python -m deploy.keys --rotate intake-2 --service intake   # one new key to add beside the old

Each service gets its own Ed25519 key (only it can sign its events); every service gets all the
public keys. To rotate, add the new public key to EVENT_PUBLIC_KEYS everywhere first, then switch
the service to its new key, then drop the old public key once its events have been read. Keys come
from the operating system's randomness; nothing is written to disk.
"""

from __future__ import annotations

import argparse
import base64
import json
import os

from shared.event_signing import public_key_of
from shared.safety import SERVICES

PREFIXES = {"intake": "INTAKE", "notifier": "NOTIFIER", "casework": "CASEWORK",
            "meeting_scheduler": "MEETINGS"}  # fmt: skip


def new_keys(services: list[str], key_id: str | None) -> list[str]:
    lines, public = [], {}
    for service in services:
        seed = os.urandom(32)
        name = key_id or f"{service}-1"
        lines.append(f"{PREFIXES[service]}_EVENT_SIGNING_KEY_ID={name}")
        lines.append(f"{PREFIXES[service]}_EVENT_SIGNING_KEY={base64.b64encode(seed).decode()}")
        public[service] = {name: public_key_of(seed)}
    lines.append(f"EVENT_PUBLIC_KEYS='{json.dumps(public, separators=(',', ':'))}'")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.keys", description=__doc__)
    parser.add_argument("--service", choices=SERVICES, action="append")
    parser.add_argument("--rotate", metavar="KEY_ID", help="the new key's id (with --service)")
    args = parser.parse_args(argv)
    if args.rotate and not args.service:
        parser.error("--rotate needs --service")
    for line in new_keys(args.service or list(SERVICES), args.rotate):
        print(line)


if __name__ == "__main__":
    main()
