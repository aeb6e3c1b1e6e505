"""Database setup: WAL, file modes, migrations that upgrade and never recreate, the vault."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.persistence.database import SCHEMA_VERSION, DatabaseError, open_database, schema_version
from engine.persistence.models import SchemaMeta, Store
from engine.persistence.runtime import open_runtime
from engine.persistence.vault import SecretError, Vault


def test_home_and_database_are_private(_isolated_environment: Path) -> None:
    runtime = open_runtime()
    try:
        assert stat.S_IMODE(_isolated_environment.stat().st_mode) == 0o700
        db_file = _isolated_environment / "shopsync.db"
        assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
        assert runtime.db.execute_sql("pragma journal_mode").fetchone()[0] == "wal"
        assert runtime.db.execute_sql("pragma busy_timeout").fetchone()[0] >= 5000
        runtime.vault.encrypt("x")
        assert stat.S_IMODE(runtime.settings.key_file.stat().st_mode) == 0o600
    finally:
        runtime.close()


def test_reopening_keeps_data_and_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    db = open_database(url)
    Store.create(domain="keep.myshopify.com")
    db.close()
    db = open_database(url)
    assert Store.get(Store.domain == "keep.myshopify.com")
    assert schema_version(db) == SCHEMA_VERSION
    db.close()


def test_old_database_is_upgraded_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = open_database(url)
    Store.create(domain="old.myshopify.com")
    SchemaMeta.update(value="0").where(SchemaMeta.key == "schema_version").execute()
    db.close()
    db = open_database(url)  # re-applies migrations from 1: safe, keeps rows
    assert schema_version(db) == SCHEMA_VERSION
    assert Store.select().count() == 1
    db.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    db = open_database(url)
    SchemaMeta.update(value=str(SCHEMA_VERSION + 1)).execute()
    db.close()
    with pytest.raises(DatabaseError, match="newer than this shopsync"):
        open_database(url)


def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(DatabaseError, match="unsupported database URL scheme 'mysql'"):
        open_database("mysql://x/y")


def test_vault_round_trip_and_wrong_key(_isolated_environment: Path) -> None:
    vault = Vault(load_settings())
    secret = vault.encrypt("shpat_secret")
    assert secret and "shpat_secret" not in secret
    assert vault.decrypt(secret) == "shpat_secret"
    (_isolated_environment / "secret.key").unlink()
    with pytest.raises(SecretError):
        Vault(load_settings()).decrypt(secret)
