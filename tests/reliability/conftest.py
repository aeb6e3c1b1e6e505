"""The reliability suite reuses the engine and e2e fixtures (simulator, CLI, serve subprocess)."""

from tests.e2e.conftest import cli_env, shopsync, sim_shop  # noqa: F401 - fixtures
from tests.e2e.test_serve import launch, serve_env  # noqa: F401 - fixtures
from tests.engine.conftest import make_store, run_job, sim  # noqa: F401 - fixtures
