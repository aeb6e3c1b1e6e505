"""The SQLite connections the dashboard's polls keep open are closed safely as the app ends.

The app ends on the UI thread while a poll may be inside its connection in a worker thread.
Closing a sqlite3 connection another thread is using frees what that thread is running: the
process segfaults (a fresh-clone suite run lost an xdist worker that way). So the test runs in
a child process, and a crash is a failed exit status, not a lost test run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent('''
    import sqlite3, sys, threading
    from types import SimpleNamespace
    from engine.persistence.database import make_database
    from tui.screens.live import KeptConnections, poll_connection

    db = make_database('sqlite:///' + sys.argv[1])  # as the app's runtime opens it
    app = SimpleNamespace(runtime=SimpleNamespace(db=db), kept_connections=KeptConnections())
    inside, outcome = threading.Event(), []

    def poll():
        try:
            with poll_connection(app):
                db.connection().create_function("inside", 0, lambda: inside.set() or 0)
                # Long enough that the app ends while it runs (minutes if nothing stops it).
                db.execute_sql("WITH RECURSIVE c(x) AS (SELECT inside() UNION ALL "
                               "SELECT x + 1 FROM c WHERE x < 4000000000) "
                               "SELECT count(*) FROM c").fetchall()
            outcome.append("finished")
        except Exception as error:
            outcome.append(f"{type(error).__name__}: {error}")

    worker = threading.Thread(target=poll)
    worker.start()
    assert inside.wait(30), "the poll never started its query"
    app.kept_connections.close()  # the app ends mid-poll
    worker.join(30)
    assert not worker.is_alive(), "the poll was not stopped"
    try:
        with poll_connection(app):  # a poll after the end is refused, not run on a dead one
            pass
    except RuntimeError as error:
        outcome.append(str(error))
    print(outcome)
''')


def test_the_app_ending_mid_poll_interrupts_the_poll_then_closes_its_connection(
    tmp_path: Path,
) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "fleet.db")],
                          capture_output=True, text=True, timeout=90,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip() == \
        "['OperationalError: interrupted', 'the app has ended']", done.stdout
