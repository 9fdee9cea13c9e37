"""Who gets a session, and where the server listens.

- The decision (workbench.guard.refusal, pure and fast): the Host and Origin headers a websocket may carry.
- A server in a real browser: Chromium resolves evil.example to 127.0.0.1 (as after DNS rebinding), so its page
  has Host = Origin = evil.example:PORT and sees a refusal and nothing else; a listed name and 127.0.0.1 get the
  workbench. A websocket from a page on another localhost port is refused too.
- The launcher (`python -m workbench`) started from a folder outside the repository listens on 127.0.0.1 only,
  with the project's settings, even when that folder's config file and $STREAMLIT_SERVER_ADDRESS say 0.0.0.0.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.browser import (
    ROOT,
    AppPage,
    free_port,
    launch_chromium,
    require_chromium,
    resolver_rules,
    serving,
    streamlit_server,
)
from tests.runs_fixtures import copy_folder
from tests.session_data import log_tail
from workbench import __main__ as launcher
from workbench.guard import ALLOWED_HOSTS_ENV, REFUSED, configured_hosts, normalize_host, refusal

pytest_plugins = ("tests.browser",)

PORT = 8501
LISTED = "wb.example"  # the name the module's server is told to serve (--allowed-hosts)
FOREIGN = "evil.example"
REFUSAL_TIMEOUT_MS = 30_000  # a refusal reads no data: it is drawn at once

# --- the decision --------------------------------------------------------------------------------------------

# (Host, Origin, allowed hosts listed, peer IP or None for loopback): a session is allowed.
ALLOWED = [
    ("127.0.0.1:8501", "http://127.0.0.1:8501", (), None),
    ("localhost:8501", "http://localhost:8501", (), None),
    ("[::1]:8501", "http://[::1]:8501", (), None),
    ("[0:0:0:0:0:0:0:1]:8501", "http://[::1]:8501", (), None),  # the same IPv6 address, spelled out
    ("LOCALHOST:8501", "HTTP://LocalHost:8501", (), None),  # names and schemes ignore case
    ("localhost.:8501", "http://localhost.:8501", (), None),  # the fully qualified spelling
    ("127.0.0.1:8501", None, (), None),  # no Origin: not a browser page, on this machine
    ("localhost:9000", "http://localhost:9000", (), None),  # an SSH tunnel on another port
    ("wb.example:8501", "https://wb.example:8501", ("wb.example",), None),
    ("WB.Example.:8501", "http://wb.example:8501", ("wb.example",), None),
    ("wb.example:8501", "http://wb.example:8501", ("WB.EXAMPLE:8501",), None),  # an entry's port is dropped
    ("wb.example", "https://wb.example", ("wb.example",), None),  # a TLS proxy on 443 passing Host on
    ("[fe80::1]:8501", "http://[fe80::1]:8501", ("[FE80::1]",), None),
    ("127.0.0.1:8501", "http://127.0.0.1:8501", (), "::ffff:127.0.0.1"),  # loopback, IPv4-mapped
    ("wb.example:8501", "http://wb.example:8501", ("wb.example",), "203.0.113.7"),  # opted in: other machines
]

# (Host, Origin, allowed hosts listed, peer, a piece of the reason): refused.
REFUSED_CASES = [
    ("evil.example:8501", "http://evil.example:8501", (), None, "'evil.example'"),  # DNS rebinding
    ("evil.example:8501", None, (), None, "'evil.example'"),
    ("EVIL.example.:8501", "http://evil.example:8501", (), None, "'evil.example'"),
    ("evil.example:8501", "http://evil.example:8501", ("wb.example",), None, "'evil.example'"),
    ("wb.example:8501", "http://wb.example:8501", (), None, "'wb.example'"),  # not listed
    ("localhost.evil.example:8501", "http://localhost.evil.example:8501", (), None, "localhost.evil.example"),
    ("127.0.0.1.nip.io:8501", "http://127.0.0.1.nip.io:8501", (), None, "127.0.0.1.nip.io"),
    ("127.0.0.2:8501", "http://127.0.0.2:8501", (), None, "'127.0.0.2'"),  # loopback, but not this server's
    ("[::2]:8501", "http://[::2]:8501", (), None, "'::2'"),
    (None, None, (), None, "no Host header"),
    ("", "http://127.0.0.1:8501", (), None, "no Host header"),
    ("127.0.0.1:8501:9", "http://127.0.0.1:8501", (), None, "not serve"),
    ("127.0.0.1:port", "http://127.0.0.1:8501", (), None, "malformed"),
    ("[::1", "http://[::1]:8501", (), None, "malformed"),
    ("127.0.0.1:8501", "http://localhost:3000", (), None, "page at 'http://localhost:3000'"),  # another port
    ("127.0.0.1:8501", "http://127.0.0.1", (), None, "page at"),  # port 80
    ("127.0.0.1:8501", "https://127.0.0.1", (), None, "page at"),  # port 443
    ("127.0.0.1:8501", "http://evil.example:8501", (), None, "page at"),
    ("wb.example:8501", "http://wb.example:3000", ("wb.example",), None, "page at"),
    ("127.0.0.1:8501", "null", (), None, "page at 'null'"),  # a sandboxed frame or a file
    ("127.0.0.1:8501", "file://", (), None, "page at"),
    ("127.0.0.1:8501", "ws://127.0.0.1:8501", (), None, "page at"),
    ("127.0.0.1:8501", "http://127.0.0.1:99999", (), None, "page at"),
    ("127.0.0.1:8501", "http://127.0.0.1:8501", (), "203.0.113.7", "another machine"),  # Host can be forged
    ("127.0.0.1:8501", "http://127.0.0.1:8501", (" ",), "2001:db8::1", "another machine"),  # blank is no opt-in
]


@pytest.mark.parametrize(("host", "origin", "listed", "peer"), ALLOWED)
def test_own_addresses_and_listed_names_are_allowed(host, origin, listed, peer):
    assert refusal(host, origin, port=PORT, allowed_hosts=listed, peer=peer) is None


@pytest.mark.parametrize(("host", "origin", "listed", "peer", "why"), REFUSED_CASES)
def test_foreign_names_pages_and_machines_are_refused(host, origin, listed, peer, why):
    reason = refusal(host, origin, port=PORT, allowed_hosts=listed, peer=peer)
    assert reason is not None and why in reason, reason


def test_the_origin_port_is_the_servers_or_the_one_the_browser_connected_to():
    assert refusal("127.0.0.1:9000", "http://127.0.0.1:8501", port=PORT) is None  # a tunnel, Host rewritten
    assert refusal("127.0.0.1:9000", "http://127.0.0.1:9000", port=PORT) is None
    assert refusal("127.0.0.1:9000", "http://127.0.0.1:7000", port=PORT) is not None


@pytest.mark.parametrize(("name", "normal"), [("LocalHost.", "localhost"), ("[::1]", "::1"),
                                              ("[0:0::1]", "::1"), ("127.0.0.1", "127.0.0.1"),
                                              ("Wb.Example", "wb.example"), (" wb.example. ", "wb.example")])
def test_host_names_compare_normalized(name, normal):
    assert normalize_host(name) == normal


def test_allowed_hosts_come_from_the_app_arguments_and_the_environment():
    argv = ["--data", "d", "--allowed-hosts", "a.example,b.example", "--allowed-hosts=c.example"]
    assert configured_hosts(argv, {ALLOWED_HOSTS_ENV: "d.example  e.example,"}) == [
        "a.example", "b.example", "c.example", "d.example", "e.example"]
    assert configured_hosts(["--data", "d"], {}) == []


# --- the launcher and the config ------------------------------------------------------------------------------


def project_config() -> dict:
    with open(ROOT / ".streamlit" / "config.toml", "rb") as f:
        return tomllib.load(f)


def test_the_config_hides_error_details_and_binds_loopback():
    config = project_config()
    assert config["client"]["showErrorDetails"] in ("none", "type")  # no traceback with server paths
    assert config["server"]["address"] == "127.0.0.1"


def test_the_launcher_passes_every_config_option_as_a_flag():
    args = launcher.streamlit_args(["--port", "8600", "--", "--data", "d", "--allowed-hosts", LISTED])
    assert args[:2] == ["run", str(ROOT / "workbench" / "entry" / "app.py")]
    flags = args[2:args.index("--")]
    given = dict(zip(flags[::2], flags[1::2], strict=True))
    expected = {f"--{section}.{name}": str(value).lower() if isinstance(value, bool) else str(value)
                for section, options in project_config().items() for name, value in options.items()}
    assert given == {**expected, "--server.port": "8600"}
    assert given["--server.address"] == "127.0.0.1" and given["--client.showErrorDetails"] in ("none", "type")
    assert args[args.index("--") + 1:] == ["--data", "d", "--allowed-hosts", LISTED]


def non_loopback_ipv4() -> str | None:
    import psutil

    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    return None


def test_the_launcher_listens_on_loopback_only_from_any_folder(tmp_path):
    import psutil

    folder = tmp_path / "elsewhere"  # outside the repository, with settings of its own that say "everywhere"
    (folder / ".streamlit").mkdir(parents=True)
    (folder / ".streamlit" / "config.toml").write_text('[server]\naddress = "0.0.0.0"\n', encoding="utf-8")
    port = free_port()
    cmd = [sys.executable, "-m", "workbench", "--port", str(port), "--", "--data", str(tmp_path / "no-data")]
    with serving(cmd, f"http://127.0.0.1:{port}", tmp_path / "launcher.log", cwd=folder,
                 env={"STREAMLIT_SERVER_ADDRESS": "0.0.0.0"}) as proc:
        listening = {c.laddr for c in psutil.Process(proc.pid).net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN}
        assert {(ip, p) for ip, p in listening if p == port} == {("127.0.0.1", port)}
        other = non_loopback_ipv4()
        if other is not None:
            with pytest.raises(OSError):
                socket.create_connection((other, port), timeout=5).close()


# --- a server, in a real browser and over a bare websocket ------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_server(workbench_template, tmp_path_factory):
    """(base URL on 127.0.0.1, port) of a server on a copy of the tiny data that also serves the name LISTED."""
    folder = tmp_path_factory.mktemp("guarded-server")
    data = copy_folder(workbench_template, folder / "data")
    log = folder / "streamlit.log"
    with streamlit_server(data, log, app_args=("--allowed-hosts", LISTED)) as url:
        yield url, int(url.rsplit(":", 1)[1])
    print(f"streamlit log (tail):\n{log_tail(log)}")


@pytest.fixture(scope="module")
def mapped_chromium(playwright):
    """The system Chromium resolving FOREIGN and LISTED to 127.0.0.1."""
    require_chromium()
    browser = launch_chromium(playwright, extra_args=(resolver_rules({FOREIGN: "127.0.0.1", LISTED: "127.0.0.1"}),))
    yield browser
    browser.close()


def app_at(browser, base: str) -> AppPage:
    return AppPage(browser.new_context().new_page(), base)


@pytest.mark.browser
@pytest.mark.parametrize("path", ["", "labeling_functions", "examples?split=dev&lf=polarity_positive&kind=fires"])
def test_a_foreign_name_sees_a_refusal_and_nothing_else(guarded_server, mapped_chromium, path):
    _, port = guarded_server
    app = app_at(mapped_chromium, f"http://{FOREIGN}:{port}")
    app.open(path, ready=f"[data-testid='stAlert']:has-text('{REFUSED}')", timeout=REFUSAL_TIMEOUT_MS)
    shown = app.page.locator("body").inner_text()
    assert FOREIGN in shown
    assert app.page.get_by_test_id("stSidebar").count() == 0
    assert app.page.locator("[data-testid='stMain'] [data-testid='stElementContainer']").count() == 1
    for of_the_data in ("LF config", "Data", "polarity", "synthetic", "rows", "Overview", "Labeling functions"):
        assert of_the_data not in shown, of_the_data
    assert not app.problems()
    app.page.context.close()


@pytest.mark.browser
@pytest.mark.parametrize("name", ["127.0.0.1", LISTED])
def test_the_own_address_and_a_listed_name_get_the_workbench(guarded_server, mapped_chromium, name):
    _, port = guarded_server
    app = app_at(mapped_chromium, f"http://{name}:{port}")
    app.open()
    assert "LF config · v1 of 1" in app.page.get_by_test_id("stSidebar").inner_text()
    assert REFUSED not in app.page.locator("body").inner_text()
    assert not app.problems()
    app.page.context.close()


async def _session_texts(url: str, origin: str, timeout: float) -> tuple[list[str], str]:
    """Open a session at websocket `url` with header Origin `origin`, as a page there would, and run the app once:
    (the kinds of message the server sent, the text of every element it drew)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    conn = await websocket_connect(HTTPRequest(url, headers={"Origin": origin}), subprotocols=["streamlit"])
    back = BackMsg()
    back.rerun_script.query_string = ""  # what the browser sends first: run the default page
    await conn.write_message(back.SerializeToString(), binary=True)
    kinds, drawn = [], []
    try:
        while True:
            raw = await asyncio.wait_for(conn.read_message(), timeout)
            if raw is None:
                break
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kinds.append(msg.WhichOneof("type"))
            if kinds[-1] == "delta":
                drawn.append(str(msg.delta))
            if kinds[-1] == "script_finished":
                break
    finally:
        conn.close()
    return kinds, "\n".join(drawn)


def session_texts(url: str, origin: str, timeout: float = 90) -> tuple[list[str], str]:
    with ThreadPoolExecutor(1) as pool:  # an event loop of its own, beside Playwright's
        return pool.submit(asyncio.run, _session_texts(url, origin, timeout)).result()


@pytest.mark.browser
def test_a_page_on_another_local_port_is_refused(guarded_server):
    base, port = guarded_server
    stream = f"ws://127.0.0.1:{port}/_stcore/stream"
    other = free_port()
    for origin in (f"http://localhost:{other}", f"http://127.0.0.1:{other}"):
        kinds, drawn = session_texts(stream, origin)
        assert REFUSED in drawn and f"{other}" in drawn
        assert "LF config" not in drawn and "navigation" not in kinds
    kinds, drawn = session_texts(stream, base)  # the workbench's own page
    assert "LF config" in drawn and REFUSED not in drawn
