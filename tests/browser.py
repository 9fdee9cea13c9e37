"""Real-browser harness: the workbench served by `streamlit run` on a free port, driven by the system Chromium.

Usable two ways:

- As a pytest plugin: a browser test module says ``pytest_plugins = ("tests.browser",)`` and asks for the
  `workbench` fixture (the app on a private copy of the `workbench_data` fixture, one server per test, a page that
  records dialogs and console errors). pytest-playwright's session `browser` is launched from the system Chromium
  (Playwright's own browser download is not used). Every test that uses the harness gets the `browser` marker, so
  ``pytest -m "not browser"`` leaves them out. Without Chromium the tests are skipped, or fail when $CI is "true".
- As a library (bench/ui_latency.py, tests/test_browser_security.py): `streamlit_server`, `serving` (any server
  command), `launch_chromium` (with extra flags, e.g. `resolver_rules`), `AppPage`.

Waiting is always on the DOM (`wait_idle`: the app's script is not running) or on a condition, never on a sleep.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.processes import stop

ROOT = Path(__file__).resolve().parents[1]
APP = "workbench/entry/app.py"
CHROMIUM_ENV = "CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
# What the entry script draws in the sidebar around every page (given prepared data): the LF config version.
FRAME = "[data-testid='stSidebarUserContent']:has-text('LF config')"
BASE_PATH_PROBE = re.compile(r"^/.+/_stcore/(health|host-config)$")
SERVER_START_TIMEOUT = 60.0  # seconds until /_stcore/health answers "ok"
PAGE_TIMEOUT_MS = 90_000  # a first page load reads the prepared data and imports the analysis stack
MARKER = "browser: drives the workbench in a real browser (system Chromium); deselect with -m 'not browser'"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(log_path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def serving(cmd: list[str], base: str, log_path: str | Path, *, cwd: str | Path = ROOT, env: dict | None = None,
            timeout: float = SERVER_START_TIMEOUT) -> Iterator[subprocess.Popen]:
    """Start the server command `cmd` in `cwd`; yield its process once `base`/_stcore/health answers, stop it
    afterwards.

    The server's output goes to `log_path` (a file, so a full pipe can never stall it); a server that does not
    come up in `timeout` seconds raises RuntimeError with the log's tail.
    """
    log_path = Path(log_path)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(f"{base}/_stcore/health"):
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}:\n{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server is not healthy after {timeout:.0f} s at {base}:\n"
                                   f"{_log_tail(log_path)}")
            time.sleep(0.1)  # polling the health endpoint of a starting process, not waiting on the page
        yield proc
    finally:
        stop(proc, 10)


@contextmanager
def streamlit_server(data_dir: str | Path, log_path: str | Path, *, port: int | None = None,
                     timeout: float = SERVER_START_TIMEOUT, app_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Serve the workbench on `data_dir` from the repository root; yield its base URL, stop it afterwards.
    `app_args` go to the app after `--data DIR` (e.g. `--allowed-hosts NAME`)."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", APP, "--server.headless", "true", "--server.port", str(port),
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", "--", "--data", str(data_dir),
           *app_args]
    base = f"http://127.0.0.1:{port}"
    with serving(cmd, base, log_path, timeout=timeout):
        yield base


@contextmanager
def launcher_server(data_dir: str | Path, log_path: str | Path, *, port: int | None = None,
                    timeout: float = SERVER_START_TIMEOUT) -> Iterator[str]:
    """Serve the workbench as `make run` does (`python -m workbench`, which also warms the caches while the server
    starts); yield its base URL, stop it afterwards."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "workbench", "--port", str(port), "--", "--data", str(data_dir)]
    base = f"http://127.0.0.1:{port}"
    with serving(cmd, base, log_path, timeout=timeout):
        yield base


def chromium_path() -> str | None:
    """The system Chromium: $CHROMIUM, else /usr/bin/chromium, else `chromium` on PATH; None when missing."""
    for candidate in (os.environ.get(CHROMIUM_ENV), DEFAULT_CHROMIUM, shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def chromium_launch_options(executable: str, *, headless: bool = True, extra_args: tuple[str, ...] = ()) -> dict:
    """Options for Playwright's `chromium.launch`."""
    return {"executable_path": executable, "headless": headless, "args": [*CHROMIUM_ARGS, *extra_args]}


def resolver_rules(names: dict[str, str]) -> str:
    """Chromium's flag that resolves each name to its address ({"evil.example": "127.0.0.1"}): a page at
    http://evil.example:PORT/ reaches the local server with Host evil.example:PORT, as after DNS rebinding."""
    return "--host-resolver-rules=" + ", ".join(f"MAP {name} {address}" for name, address in names.items())


def launch_chromium(playwright, *, headless: bool = True, extra_args: tuple[str, ...] = ()):
    """The system Chromium through Playwright's sync API; RuntimeError when it is not installed."""
    executable = chromium_path()
    if executable is None:
        raise RuntimeError(f"no Chromium: install it (apt-get install chromium) or set ${CHROMIUM_ENV}")
    return playwright.chromium.launch(**chromium_launch_options(executable, headless=headless,
                                                                extra_args=extra_args))


def key_selector(key: str) -> str:
    """The CSS selector of the element with widget/container key `key` (Streamlit's `st-key-` class)."""
    return ".st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())


def wait_idle(page, timeout: float | None = None) -> None:
    """Wait until the app's script has finished running (the app shows `notRunning`)."""
    page.wait_for_selector(IDLE, state="attached", timeout=timeout)


@dataclass
class AppPage:
    """A browser page on the workbench, recording what must never happen: dialogs and console errors."""

    page: object  # playwright.sync_api.Page
    base_url: str
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)  # errors of the app's own pages and scripts
    external_errors: list[str] = field(default_factory=list)  # resources of other hosts (offline: unreachable)

    def __post_init__(self) -> None:
        self.page.set_default_timeout(PAGE_TIMEOUT_MS)
        self.page.on("dialog", self._on_dialog)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.console_errors.append(f"uncaught: {error}"))

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url") or ""
        if url.startswith(self.base_url) and BASE_PATH_PROBE.search(url[len(self.base_url):]):
            return  # Streamlit looks for its endpoints under a deep link's path first: 404, then the root
        own = not url or url.startswith(self.base_url)
        (self.console_errors if own else self.external_errors).append(f"{message.text} ({url})" if url else
                                                                       message.text)

    def open(self, path: str = "", ready: str | None = FRAME, timeout: float | None = None) -> None:
        """Load `path` in a fresh page load; wait until `ready` (a selector; by default the app
        frame's sidebar) is drawn and the script is done. Waiting for content, not only for idle, matters: a
        page that reruns itself (st.rerun) passes through idle on its way."""
        self.page.goto(f"{self.base_url}/{path.lstrip('/')}")
        if ready:
            self.page.locator(ready).first.wait_for(timeout=timeout)
        self.idle()

    def idle(self) -> None:
        wait_idle(self.page)

    def key(self, key: str):
        """The locator of the element with key `key`."""
        return self.page.locator(key_selector(key))

    def text(self, key: str) -> str:
        return self.key(key).inner_text()

    def click(self, key: str) -> None:
        """Click the button with key `key` (Streamlit also draws a hidden copy of a button to measure it)."""
        self.key(key).locator("button:visible").click()

    def pill(self, key: str, starts: str) -> None:
        """Click the option of the pills widget with key `key` whose text starts with `starts`."""
        self.key(key).get_by_role("button").filter(has_text=re.compile(rf"^\s*{re.escape(starts)}")).click()

    def navigate(self, title: str, url_path: str, ready_key: str) -> None:
        """Go to another page through the sidebar menu, as a user does, until `ready_key` is drawn and idle."""
        self.page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        self.await_page(url_path, ready_key)

    def await_page(self, url_path: str, ready_key: str) -> None:
        """After a click that switches pages: the URL is the page's, its element `ready_key` is drawn, idle."""
        self.page.wait_for_url(f"**/{url_path}**")
        self.key(ready_key).first.wait_for()
        self.idle()

    def problems(self) -> list[str]:
        """What went wrong on screen so far: browser dialogs, console errors of the app, Streamlit's exception
        boxes and modal error dialogs (e.g. "Page not found"). Empty when all is well."""
        shown = [f"exception box: {t}" for t in self.page.get_by_test_id("stException").all_inner_texts()]
        shown += [f"modal: {t}" for t in self.page.locator("[role='dialog']:visible").all_inner_texts()]
        return ([f"dialog {d}" for d in self.dialogs] + [f"console error: {e}" for e in self.console_errors]
                + shown)

    def change_text(self, key: str, action) -> str:
        """Run `action()`, then wait until the text under `key` differs from before and the rerun is over.

        Returns the new text. The old text stays on screen until the rerun redraws it, so a changed text after
        `action` means the rerun it triggered has drawn that element; idle then means the run is over.
        """
        before = self.text(key)
        action()
        self.page.wait_for_function(
            "([sel, before]) => { const el = document.querySelector(sel);"
            " return el !== null && el.innerText !== before; }",
            arg=[key_selector(key), before])
        self.idle()
        return self.text(key)


# --- pytest plugin -------------------------------------------------------------------------------------------


def require_chromium() -> str:
    """The system Chromium's path; skips the test when it is missing, or fails it when $CI is "true"."""
    executable = chromium_path()
    if executable is None:
        why = (f"no Chromium at ${CHROMIUM_ENV}, {DEFAULT_CHROMIUM} or on PATH "
               "(install it: apt-get install chromium)")
        if os.environ.get("CI") == "true":
            pytest.fail(why + "; CI=true, so browser tests may not be skipped", pytrace=False)
        pytest.skip(why)
    return executable


def pytest_configure(config) -> None:
    if not any(line.split(":")[0].strip() == "browser" for line in config.getini("markers")):
        config.addinivalue_line("markers", MARKER)  # when pyproject.toml does not register it


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if "workbench" in getattr(item, "fixturenames", ()):
            item.add_marker("browser")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's launch options (--headed, --slowmo) with the system Chromium."""
    headless = browser_type_launch_args.get("headless", True)
    return {**browser_type_launch_args, **chromium_launch_options(require_chromium(), headless=headless)}


@pytest.fixture
def workbench_server(workbench_data: Path, tmp_path: Path) -> Iterator[str]:
    """A streamlit server of this test on its private copy of the tiny workbench data: its base URL."""
    log = tmp_path / "streamlit.log"
    with streamlit_server(workbench_data, log) as url:
        yield url
    print(f"streamlit log (tail):\n{_log_tail(log)}")  # shown with a failing test's report


@pytest.fixture
def workbench(page, workbench_server: str) -> AppPage:
    """The browser page of this test (pytest-playwright's `page`) on this test's server."""
    return AppPage(page, workbench_server)
