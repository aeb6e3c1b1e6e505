"""The bundled Shopify Admin API simulator (a fake of an external service).

It imports nothing from the rest of `engine`. Entry points: `engine.simulator.app.create_app`
and `engine.simulator.server` (`SimulatorThread`, `run`).
"""

DEMO_API_KEY = "shopsync-demo-app"
DEMO_API_SECRET = "shpss_demo_not_a_real_secret"

__all__ = ["DEMO_API_KEY", "DEMO_API_SECRET"]
