"""The service files the README shows: the systemd unit, its EnvironmentFile example and the
container file run `shopsync serve` with settings that exist."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import pytest

from engine.config import Settings, load_settings
from engine.serve.app import SHUTDOWN_BUDGET

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "deploy" / "shopsync.service"
ENV_EXAMPLE = REPO / "deploy" / "shopsync.env.example"
CONTAINERFILE = REPO / "Containerfile"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_runs_serve_with_the_environment_file_and_time_to_hand_leases_back() -> None:
    service = _unit()["Service"]
    program, *args = service["ExecStart"].split()
    assert Path(program).name == "shopsync" and args == ["serve"]
    assert service["EnvironmentFile"] == "/etc/shopsync/shopsync.env"
    assert service["KillSignal"] == "SIGTERM"
    assert float(service["TimeoutStopSec"]) > SHUTDOWN_BUDGET
    assert service["Environment"] == f"SHOPSYNC_HOME={service['ReadWritePaths']}"
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"


def test_env_example_names_only_real_settings_and_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    text = ENV_EXAMPLE.read_text()
    names = set(re.findall(r"^#?(SHOPSYNC_[A-Z_]+)=", text, flags=re.MULTILINE))
    fields = {f"SHOPSYNC_{name.upper()}" for name in Settings.model_fields}
    assert names and names <= fields, names - fields
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.listen_host_port == ("127.0.0.1", 8787)


def test_containerfile_runs_serve_from_files_that_exist() -> None:
    lines = CONTAINERFILE.read_text().splitlines()
    cmd = next(line for line in lines if line.startswith("CMD "))
    assert json.loads(cmd.removeprefix("CMD ")) == ["shopsync", "serve"]
    assert "STOPSIGNAL SIGTERM" in lines
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
