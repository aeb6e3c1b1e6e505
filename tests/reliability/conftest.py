"""The reliability suite reuses the engine and e2e fixtures (simulator, CLI, serve subprocess)."""

from tests.e2e.conftest import (  # noqa: F401 - fixtures
    cli_env,
    launch,
    serve_env,
    shopsync,
    sim_shop,
)
from tests.engine.conftest import make_store, run_job, sim  # noqa: F401 - fixtures
from tests.tui.conftest import make_app  # noqa: F401 - fixture
