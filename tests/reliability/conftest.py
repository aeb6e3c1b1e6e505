"""The reliability suite reuses the engine tests' simulator fixtures (sim, make_store, run_job)."""

from tests.e2e.conftest import cli_env, shopsync, sim_shop  # noqa: F401 - fixtures
from tests.engine.conftest import make_store, run_job, sim  # noqa: F401 - fixtures
