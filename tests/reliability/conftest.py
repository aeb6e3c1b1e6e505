"""The reliability suite reuses the engine tests' simulator fixtures (sim, make_store, run_job)."""

from tests.engine.conftest import make_store, run_job, sim  # noqa: F401 - fixtures
