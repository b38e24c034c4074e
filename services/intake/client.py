"""Send a police contact to intake as the police system would: signed.

    python -m services.intake.client docs/examples/police-contact.v1.json \\
        [--url http://127.0.0.1:8001] [--key-id dev-1] [--key BASE64]

Without --key, the public dev key is used (accepted only by a `dev` intake). For integrators:
this is the reference implementation of the signature described in services/intake/auth.py.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
import uuid
from pathlib import Path

import httpx

from services.intake.auth import signed_headers
from services.intake.settings import DEV_POLICE_KEY


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("contact", type=Path, help="a JSON file with a police contact v1")
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--key-id", default="dev-1")
    parser.add_argument("--key", default=DEV_POLICE_KEY, help="base64 HMAC key")
    args = parser.parse_args()
    body = args.contact.read_bytes()
    headers = {
        "Content-Type": "application/json",
        **signed_headers(
            args.key_id, base64.b64decode(args.key), uuid.uuid4().hex, int(time.time()), body
        ),
    }
    response = httpx.post(f"{args.url}/v1/contacts", content=body, headers=headers, timeout=10)
    print(response.status_code, response.text)
    sys.exit(0 if response.status_code in (200, 202) else 1)


if __name__ == "__main__":
    main()
