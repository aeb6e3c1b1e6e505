"""engine.config's settings loader: SHOPSYNC_<FIELD> from the environment, as pydantic-settings'
BaseSettings read them before (prefix, any case, values passed in win, an empty value is a
value, defaults validated), and errors that name the variable without echoing a secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from engine.config import ConfigError, Settings, environment_values, load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.upper().startswith("SHOPSYNC_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SHOPSYNC_HOME", str(tmp_path / "home"))
    return monkeypatch


def test_each_field_comes_from_its_variable_with_its_type(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHOPSYNC_MAX_RETRIES", "3")
    clean_env.setenv("SHOPSYNC_POLL_INTERVAL", "0.05")
    clean_env.setenv("SHOPSYNC_METRICS_PER_STORE", "false")
    clean_env.setenv("SHOPSYNC_API_SECRET", "s3cret")
    clean_env.setenv("SHOPSYNC_DATABASE_URL", "postgresql://db/x")
    settings = load_settings()
    assert settings.max_retries == 3 and settings.poll_interval == 0.05
    assert settings.metrics_per_store is False
    assert isinstance(settings.api_secret, SecretStr)
    assert settings.api_secret.get_secret_value() == "s3cret"
    assert settings.database_url == "postgresql://db/x"
    assert settings.home.name == "home" and isinstance(settings.home, Path)


def test_names_match_in_any_case_and_other_variables_are_ignored(
        clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("shopsync_log_level", "debug")
    clean_env.setenv("SHOPSYNC_NOT_A_SETTING", "x")
    clean_env.setenv("MAX_RETRIES", "1")
    assert load_settings().log_level == "DEBUG"
    values = environment_values({"SHOPSYNC_Max_Retries": "2", "SHOPSYNC_NOPE": "1", "HOME": "/"})
    assert values == {"max_retries": "2"}


def test_values_passed_in_win_over_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHOPSYNC_MAX_RETRIES", "3")
    clean_env.setenv("SHOPSYNC_API_KEY", "from-env")
    settings = load_settings(max_retries=9, unknown_field="ignored")
    assert settings.max_retries == 9 and settings.api_key == "from-env"
    assert Settings(api_key="given").api_key == "given"


def test_defaults_are_validated_and_an_empty_value_is_a_value(
        clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.shopify_url == "https://{shop}" and settings.log_level == "INFO"
    assert settings.listen_host_port == ("127.0.0.1", 8787)
    clean_env.setenv("SHOPSYNC_API_KEY", "")
    assert load_settings().api_key == ""
    clean_env.setenv("SHOPSYNC_SHOPIFY_URL", "http://127.0.0.1:9/{shop}/")
    assert load_settings().shopify_url == "http://127.0.0.1:9/{shop}"
    clean_env.setenv("SHOPSYNC_LEASE_SECONDS", "")
    with pytest.raises(ConfigError, match="SHOPSYNC_LEASE_SECONDS Input should be a valid"):
        load_settings()


def test_every_invalid_variable_is_named_and_a_secret_is_never_echoed(
        clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHOPSYNC_LISTEN", "127.0.0.1:99999")
    clean_env.setenv("SHOPSYNC_MAX_CONCURRENT_STORES", "hunter2")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("invalid setting: SHOPSYNC_LISTEN must be HOST:PORT")
    assert "; SHOPSYNC_MAX_CONCURRENT_STORES Input should be a valid integer" in message
    assert "hunter2" not in message


def test_loading_the_settings_imports_no_pydantic_settings() -> None:
    """pydantic-settings imports asyncio, argparse, dotenv and its cloud secret sources on
    import; the loader needs none of them."""
    code = ("import sys; from engine.config import load_settings; load_settings(); "
            "print(sorted(m for m in ('pydantic_settings', 'asyncio', 'argparse', 'dotenv') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
