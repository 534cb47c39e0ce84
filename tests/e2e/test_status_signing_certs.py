"""Delegated status signing (spec §10): ``statuslist keygen`` makes a CSR asking for the
status-signing EKU, or a development CA and leaf carrying it; a server signing with that chain
serves tokens with ``x5c`` / ``x5chain``; the SDK asked to require the EKU accepts them and
refuses a chain whose leaf lacks it (JWT and CWT, both clients)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography import x509

from statuslist.client import StatusListClient, SyncStatusListClient
from statuslist.exceptions import UnknownKeyError
from statuslist.tokens import STATUS_SIGNING_EKU
from tests.support import ServerProcess, run_cli


def _server(tmp_path: Path, name: str, eku: str | None) -> tuple[ServerProcess, str, Path]:
    """A server whose issuer signs with a fresh key and a dev chain (leaf EKU ``eku``)."""
    key = tmp_path / f"{name}.pem"
    chain_dir = tmp_path / f"{name}-chain"
    run_cli("keygen", "--out", str(key), "--dev-chain", str(chain_dir),
            *(("--eku", eku) if eku else ()))  # fmt: skip
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(
        f"[issuers.acme]\nkeys = [{str(key)!r}]\nchain = {str(chain_dir / 'chain.pem')!r}\n",
        encoding="utf-8",
    )
    data = tmp_path / f"{name}-data"
    admin = run_cli("apikey", "create", "--config", str(cfg), "--data", str(data),
                    "--scope", "admin").strip()  # fmt: skip
    server = ServerProcess(data, args=("--config", str(cfg))).start()
    list_id = server.api("POST", "/v1/lists", {"bits": 1, "size": 64}, key=admin)["id"]
    server.api("PUT", f"/v1/lists/{list_id}/entries/3", {"status": "INVALID"}, key=admin)
    server.api("POST", f"/v1/lists/{list_id}/publish", key=admin)
    return server, f"{server.url}/statuslists/{list_id}", chain_dir / "ca.pem"


def _status(uri: str, ca: Path, fmt: str, kind: str) -> int:
    anchor = x509.load_pem_x509_certificate(ca.read_bytes())
    opts = {"trust_anchors": [anchor], "require_eku": STATUS_SIGNING_EKU, "formats": (fmt,)}
    claims = {"idx": 3, "uri": uri}
    if kind == "sync":
        with SyncStatusListClient(**opts) as sync:
            return sync.status(claims).status

    async def run() -> int:
        async with StatusListClient(**opts) as client:
            return (await client.status(claims)).status

    return asyncio.run(run())


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_the_eku_is_required_and_found(tmp_path: Path, kind: str) -> None:
    good, good_uri, good_ca = _server(tmp_path, "good", None)
    bad, bad_uri, bad_ca = _server(tmp_path, "bad", "1.3.6.1.5.5.7.3.4")  # emailProtection
    try:
        for fmt in ("jwt", "cwt"):
            assert _status(good_uri, good_ca, fmt, kind) == 1
            with pytest.raises(UnknownKeyError, match="status-signing Extended Key Usage"):
                _status(bad_uri, bad_ca, fmt, kind)
    finally:
        good.stop()
        bad.stop()


def test_keygen_writes_a_csr_with_the_eku(tmp_path: Path) -> None:
    csr_path = tmp_path / "req.pem"
    run_cli("keygen", "--out", str(tmp_path / "k.pem"), "--csr", str(csr_path),
            "--subject", "CN=status signer,O=Acme")  # fmt: skip
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=status signer,O=Acme"
    eku = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.ObjectIdentifier(STATUS_SIGNING_EKU) in eku
    custom = tmp_path / "req2.pem"
    run_cli("keygen", "--out", str(tmp_path / "k2.pem"), "--csr", str(custom),
            "--eku", "1.3.6.1.5.5.7.3.99")  # fmt: skip
    eku2 = x509.load_pem_x509_csr(custom.read_bytes()).extensions.get_extension_for_class(
        x509.ExtendedKeyUsage
    )
    assert x509.ObjectIdentifier("1.3.6.1.5.5.7.3.99") in eku2.value
