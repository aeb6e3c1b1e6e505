"""`shopsync web` in a real browser: Debian's headless Chromium driven by selenium.

A seeded database, `shopsync web` as a subprocess with SHOPSYNC_WEB_TOKEN set, then: a request
without the token gets 401 and no app; the browser signs in, sees the dashboard's store names
and badges, presses enter to open a store. The browser's screenshot is saved in the test's temp
folder, or as screenshots/web-dashboard.png with UPDATE_SCREENSHOTS=1.
Under CI a missing Chromium fails the test instead of skipping it (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.engine.livedata_support import free_port
from tests.support import HTTP

REPO = Path(__file__).resolve().parents[2]
TOKEN = "web-token-for-tests-7f3a"
SCREENSHOT = REPO / "screenshots" / "web-dashboard.png"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

# Records what the app sends to the page (the terminal stream), so the test can read the
# screen: the terminal draws on a canvas, not in the DOM.
RECORD_STREAM = """
window.__shopsync = "";
const NativeSocket = window.WebSocket;
window.WebSocket = function (...args) {
  const socket = new NativeSocket(...args);
  const decoder = new TextDecoder();
  socket.addEventListener("message", (event) => {
    if (typeof event.data !== "string") {
      window.__shopsync += decoder.decode(new Uint8Array(event.data), {stream: true});
    }
  });
  return socket;
};
window.WebSocket.prototype = NativeSocket.prototype;
Object.assign(window.WebSocket, NativeSocket);
"""


def _need_browser() -> None:
    if CHROMIUM and CHROMEDRIVER:
        return
    message = "the browser test needs Debian's chromium and chromium-driver packages"
    if os.environ.get("CI"):
        pytest.fail(message + " (.ci/run installs them)")
    pytest.skip(message)


def _seed(home: Path) -> None:
    from engine.persistence.runtime import open_runtime
    from tests.tui.factories import demo_fleet

    runtime = open_runtime()
    try:
        demo_fleet()
    finally:
        runtime.close()


def _start_web(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = Path(env["SHOPSYNC_HOME"]) / "web.log"
    with log.open("ab") as sink:
        process = subprocess.Popen([sys.executable, "-m", "tui.cli", "web", *args],
                                   env=env, cwd=REPO, stdout=sink, stderr=sink)
    return process, log


def _wait_listening(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 120  # a loaded 2-core machine takes its time to import
    while time.monotonic() < deadline:
        assert process.poll() is None, f"shopsync web exited: {log.read_text()[-2000:]}"
        try:
            HTTP.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    pytest.fail(f"shopsync web did not listen: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def web_env(_isolated_environment: Path) -> dict[str, str]:
    _seed(_isolated_environment)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")}
    env.update({"SHOPSYNC_HOME": str(_isolated_environment), "PYTHONPATH": str(REPO)})
    return env


@pytest.fixture
def web_with_token(web_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process, log = _start_web({**web_env, "SHOPSYNC_WEB_TOKEN": TOKEN}, "--port", str(port))
    try:
        _wait_listening(process, url, log)
        yield url
    finally:
        _stop(process)


@pytest.mark.slow
@pytest.mark.timeout(600)  # starting Chromium and a console process on a loaded machine
def test_requests_without_the_token_get_401_and_no_app(web_with_token: str) -> None:
    url = web_with_token
    for path in ("/", "/ws", "/static/js/textual.js"):
        response = HTTP.get(url + path)
        assert response.status_code == 401, path
        assert "textual-terminal" not in response.text and "websocket" not in response.text
    wrong = HTTP.post(url + "/login", data={"token": "guess"})
    assert wrong.status_code == 401 and "not the access token" in wrong.text
    page = HTTP.get(url + "/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200 and "textual-terminal" in page.text
    assert TOKEN not in page.text
    cross_site = HTTP.get(url + "/ws", headers={"Authorization": f"Bearer {TOKEN}",
                                                 "Origin": "https://evil.example"})
    assert cross_site.status_code == 403


@pytest.mark.slow
@pytest.mark.timeout(600)  # starting Chromium and a console process on a loaded machine
def test_browser_signs_in_sees_the_fleet_and_opens_a_store(
    web_with_token: str, tmp_path: Path
) -> None:
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                               {"source": RECORD_STREAM})
        driver.get(web_with_token + "/")
        assert "Access token" in driver.page_source  # the sign-in form, no app
        assert "textual-terminal" not in driver.page_source
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.ID, "sign-in").click()
        assert TOKEN not in driver.current_url

        def screen() -> str:
            return str(driver.execute_script("return window.__shopsync || ''"))

        def wait_for(*texts: str, timeout: float = 150) -> str:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                seen = screen()
                if all(text in seen for text in texts):
                    return seen
                time.sleep(0.2)
            pytest.fail(f"the browser never showed {texts}; it got {screen()[-1500:]!r}")

        wait_for("Acme Outdoor", "Berlin Bikes", "Connected", "Error", "Reconnect required")
        time.sleep(1.0)  # let the terminal paint before the picture
        picture = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / "web.png"
        driver.save_screenshot(str(picture))
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        before = len(screen())
        terminal = driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
        terminal.send_keys(Keys.ENTER)  # open the store under the cursor
        deadline = time.monotonic() + 90
        while "Stores ›" not in screen()[before:] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Stores ›" in screen()[before:], "enter did not open the store screen"
        assert "Sync status" in screen()[before:]
    finally:
        driver.quit()


def test_a_non_loopback_address_needs_a_token_or_read_only(web_env: dict[str, str]) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "tui.cli", "web", "--host", "0.0.0.0", "--port",
         str(free_port())], env=web_env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "SHOPSYNC_WEB_TOKEN" in refused.stderr and "--read-only" in refused.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)  # starting Chromium and a console process on a loaded machine
def test_read_only_may_listen_on_any_address(web_env: dict[str, str]) -> None:
    port = free_port()
    process, log = _start_web(web_env, "--host", "0.0.0.0", "--port", str(port), "--read-only")
    try:
        _wait_listening(process, f"http://127.0.0.1:{port}", log)
        page = HTTP.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and "ws://127.0.0.1:" in page.text
    finally:
        _stop(process)
