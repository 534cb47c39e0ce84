"""Settings: file, environment and flags in that order; every refusal names the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from statuslist.config import load_settings
from statuslist.exceptions import ConfigError
from statuslist.service import load_issuer_keys
from statuslist.storage import open_storage
from statuslist.storage.sqlite import SQLiteStorage


def test_settings_sources_and_validation(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text("port = 9000\npublish_interval = 0.5\n[list_defaults]\nbits = 1\n")
    s = load_settings(cfg, env={"STATUSLIST_PORT": "9100"}, host="192.0.2.1")
    assert (s.port, s.host, s.publish_interval, s.list_defaults.bits) == (9100, "192.0.2.1", 0.5, 1)
    assert s.base_url == "http://192.0.2.1:9100" and s.dev_setup
    for text, message in [
        ("nonsense = 1\n", "unknown setting"),
        ("[list_defaults]\nbits = 3\n", "bits"),
        ("publish_interval = 0\n", "publish_interval"),
        ('public_base_url = "ftp://x"\n', "public_base_url"),
        ("[issuers.a]\n", "key"),
        ("port = \n", "s.toml"),
    ]:
        cfg.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_settings(cfg, env={})
    with pytest.raises(ConfigError, match="STATUSLIST_PORT"):
        load_settings(None, env={"STATUSLIST_PORT": "eighty"})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml", env={})


def test_database_url_picks_the_backend(tmp_path: Path) -> None:
    s = load_settings(None, env={}, data_dir=tmp_path)
    storage = open_storage(s)
    assert isinstance(storage, SQLiteStorage) and storage.path == tmp_path / "statuslist.db"
    with pytest.raises(ConfigError, match="database_url"):
        load_settings(None, env={"STATUSLIST_DATABASE_URL": "mysql://db/x"})
    no_issuers = load_settings(None, env={"STATUSLIST_DATABASE_URL": "postgresql://u@db.invalid/x"})
    with pytest.raises(ConfigError, match="needs issuers"):  # no dev setup on PostgreSQL
        load_issuer_keys(no_issuers)
    cfg = tmp_path / "pg.toml"
    cfg.write_text('[issuers.a]\nkeys = ["a.pem"]\n')
    s = load_settings(cfg, env={"STATUSLIST_DATABASE_URL": "postgresql://u@db.invalid/x"})
    pg = open_storage(s)  # not connected until opened
    assert type(pg).__name__ == "PostgresStorage" and pg.shared
    for env, bad in (
        ({"STATUSLIST_DATABASE_POOL_SIZE": "1"}, "database_pool_size"),
        ({"STATUSLIST_DATABASE_STATEMENT_TIMEOUT": "0"}, "database_statement_timeout"),
        ({"STATUSLIST_DATABASE_POOL_SIZE": "ten"}, "STATUSLIST_DATABASE_POOL_SIZE"),
    ):
        with pytest.raises(ConfigError, match=bad):
            load_settings(cfg, env=env)
