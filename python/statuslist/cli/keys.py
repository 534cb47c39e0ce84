"""``keygen``: create a private signing key file (mode 0600) and print its public JWK."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keygen``."""
    key = subparsers.add_parser(
        "keygen", help="create a private signing key (0600) and print its JWK"
    )
    key.add_argument("--alg", choices=("ES256", "ES384", "EdDSA", "PS256"), default="ES256")
    key.add_argument("--out", required=True, type=Path, help="private key file to create (PEM)")
    key.add_argument("--kid", default=None, help="key id (default: RFC 7638 thumbprint)")
    key.add_argument("--force", action="store_true", help="overwrite an existing file")
    key.set_defaults(handler=_keygen)


def _keygen(args: argparse.Namespace) -> int:
    from statuslist.tokens import generate_private_key, load_key

    pem = generate_private_key(args.alg)
    key = load_key(pem, args.kid)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if args.force else os.O_EXCL)
    try:
        fd = os.open(args.out, flags, 0o600)
    except FileExistsError:
        raise OSError(f"{args.out} exists; pass --force to overwrite it") from None
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(pem)
    print(json.dumps(key.public_jwk))
    print(f"wrote {args.alg} private key to {args.out} (mode 0600)", file=sys.stderr)
    return 0
