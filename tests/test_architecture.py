"""The architecture's guard rails that import-linter cannot express."""

from __future__ import annotations

import tomllib
from pathlib import Path

from engine import simulator
from engine.config import SIMULATOR_APP_KEY

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> dict[str, dict]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["name"]: c for c in data["tool"]["importlinter"]["contracts"]}


def test_the_simulator_is_forbidden_every_layer_of_the_engine() -> None:
    """The layers contract is exhaustive; the simulator's forbidden list must name each layer."""
    contracts = _contracts()
    layers = {
        f"engine.{name.strip()}"
        for layer in contracts["The engine's packages are layered"]["layers"]
        for name in layer.split("|")
    }
    forbidden = set(contracts["The simulator imports nothing from the rest of the engine"][
        "forbidden_modules"])
    assert layers <= forbidden, sorted(layers - forbidden)


def test_every_engine_package_is_placed_in_a_layer() -> None:
    contracts = _contracts()
    placed = {
        name.strip()
        for layer in contracts["The engine's packages are layered"]["layers"]
        for name in layer.split("|")
    } | {"simulator"}
    present = {
        path.stem if path.is_file() else path.name
        for path in (ROOT / "engine").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert present == placed


def test_the_engine_knows_the_simulators_demo_app_key() -> None:
    assert simulator.DEMO_API_KEY == SIMULATOR_APP_KEY


def test_every_type_ignore_says_why() -> None:
    """`# type: ignore[code]  # why`: a silenced type error carries its reason on its line."""
    unexplained = []
    for path in sorted([*(ROOT / "engine").rglob("*.py"), *(ROOT / "tui").rglob("*.py")]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            _code, marker, after = line.partition("# type: ignore")
            if not marker:
                continue
            code, _close, reason = after.partition("]")
            if not code.startswith("[") or not reason.strip().startswith("# "):
                unexplained.append(f"{path.relative_to(ROOT)}:{number}")
    assert not unexplained, unexplained


def test_the_architecture_page_lists_every_engine_package() -> None:
    """docs/ARCHITECTURE.md's tree names each package and top-level module of engine/ (the
    layers); the modules inside a package are listed there too, kept up by review."""
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    tree = page.split("## The tree", 1)[1].split("```")[1]
    listed, stack = set(), []
    for line in tree.splitlines():
        name = line.strip().split(" ", 1)[0]
        if not name:
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        stack[depth:] = [name.rstrip("/")]
        listed.add("/".join(stack) + ("/" if name.endswith("/") else ""))
    present = {
        str(path.relative_to(ROOT)) + ("/" if path.is_dir() else "")
        for path in (ROOT / "engine").iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py")
        or (path.is_dir() and path.name != "__pycache__")
    }
    assert present <= listed, sorted(present - listed)
    assert "docs/ARCHITECTURE.md" in (ROOT / "README.md").read_text()
