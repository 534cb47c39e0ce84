"""``keygen``: create a private signing key file (mode 0600) and print its public JWK;
``keys reload``: make a running server take the issuer keys its configuration now names."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keygen`` and ``keys reload``."""
    key = subparsers.add_parser(
        "keygen", help="create a private signing key (0600) and print its JWK"
    )
    key.add_argument("--alg", choices=("ES256", "ES384", "EdDSA", "PS256"), default="ES256")
    key.add_argument("--out", required=True, type=Path, help="private key file to create (PEM)")
    key.add_argument("--kid", default=None, help="key id (default: RFC 7638 thumbprint)")
    key.add_argument("--force", action="store_true", help="overwrite an existing file")
    key.add_argument(
        "--csr",
        type=Path,
        default=None,
        help="also write a certificate signing request (PEM) asking for the status-signing EKU",
    )
    key.add_argument(
        "--dev-chain",
        type=Path,
        default=None,
        metavar="DIR",
        help="development only: also create a test CA and a leaf certificate with the EKU in DIR "
        "(ca.pem, ca-key.pem, chain.pem: the issuer's `chain`)",
    )
    key.add_argument(
        "--subject", default="CN=statuslist status signer", help="RFC 4514 subject name"
    )
    key.add_argument(
        "--eku",
        default=None,
        help="Extended Key Usage OID (default: the stand-in for id-kp-oauthStatusSigning, "
        "1.3.6.1.5.5.7.3.TBD until assigned)",
    )
    key.set_defaults(handler=_keygen)

    keys = subparsers.add_parser("keys", help="issuer signing keys of a running server")
    verbs = keys.add_subparsers(dest="keys_verb", required=True)
    reload = verbs.add_parser(
        "reload",
        help="make a running server reload its issuer keys (SIGHUP)",
        description="Sends SIGHUP to the server running on the data directory (or to --pid): "
        "it reads its configuration again; each issuer's new first key signs from the next "
        "publish, removed keys stay in the JWKS until the tokens they signed expire. The server "
        "logs the outcome; /readyz reports a configuration that could not be loaded.",
    )
    reload.add_argument("--data", type=Path, default=None, help="the server's data directory")
    reload.add_argument("--config", type=Path, default=None)
    reload.add_argument("--pid", type=int, default=None, help="signal this process instead")
    reload.set_defaults(handler=_reload)


def _reload(args: argparse.Namespace) -> int:
    import fcntl
    import signal

    from statuslist.config import load_settings
    from statuslist.exceptions import ConfigError
    from statuslist.storage import DB_FILE

    pid = args.pid
    if pid is None:
        settings = load_settings(args.config, data_dir=args.data)
        lock = settings.data_dir / (DB_FILE + ".lock")
        try:
            fd = os.open(lock, os.O_RDONLY)
        except FileNotFoundError:
            raise ConfigError(
                f"no server has run on {settings.data_dir} ({lock} is missing)"
            ) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                pass  # held: a server runs
            else:
                raise ConfigError(f"no server is running on {settings.data_dir}")
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        finally:
            os.close(fd)
        if not text.isdigit():
            raise ConfigError(f"{lock} names no process")
        pid = int(text)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ConfigError(f"no process {pid}") from None
    print(
        f"statuslist: asked the server (pid {pid}) to reload its issuer keys; it logs the outcome",
        file=sys.stderr,
    )
    return 0


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
    if args.csr is not None or args.dev_chain is not None:
        from statuslist.tokens import STATUS_SIGNING_EKU, dev_certificate_chain, status_signing_csr

        eku = args.eku or STATUS_SIGNING_EKU
        if args.csr is not None:
            args.csr.write_bytes(status_signing_csr(pem, args.subject, eku))
            print(f"wrote a CSR for {args.subject} with EKU {eku} to {args.csr}", file=sys.stderr)
        if args.dev_chain is not None:
            made = dev_certificate_chain(pem, args.subject, eku)
            args.dev_chain.mkdir(parents=True, exist_ok=True)
            (args.dev_chain / "ca.pem").write_bytes(made.ca_cert)
            ca_key = args.dev_chain / "ca-key.pem"
            fd = os.open(ca_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(made.ca_key)
            (args.dev_chain / "chain.pem").write_bytes(made.chain)
            print(
                f"wrote a development CA and chain (EKU {eku}) to {args.dev_chain}: set the "
                "issuer's chain to chain.pem; relying parties trust ca.pem",
                file=sys.stderr,
            )
    return 0
