"""Who gets a session: only pages of this workbench, addressed by a name it serves.

Streamlit accepts a websocket whose Origin matches its Host, or any localhost origin, and its XSRF token does not
guard the websocket. So a DNS-rebinding page (Host = Origin = evil.example:8501) or a page on another localhost
port would get a full session: read reviews, edit and save LFs, start retrains, download artifacts. The entry script
calls `enforce()` before it draws or reads anything: such a session sees a refusal and nothing else.

Allowed names: 127.0.0.1, localhost and [::1], plus those listed in $LFWB_ALLOWED_HOSTS or `--allowed-hosts` after
`--` on the streamlit command line (comma- or space-separated; both lists count). `refusal()` is the decision
itself, pure, so it is tested without a server.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import streamlit as st
from streamlit.runtime.context import StreamlitHeaders

from workbench.app_args import app_args
from workbench.render import markdown_literal

ALLOWED_HOSTS_ENV = "LFWB_ALLOWED_HOSTS"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORTS = {"http": 80, "https": 443}
REFUSED = "This workbench refused the session"

log = logging.getLogger(__name__)


def normalize_host(name: str) -> str:
    """A host name as compared: lower case, without IPv6 brackets or a trailing dot, IP literals in their
    canonical form ("0:0::1" is "::1")."""
    name = name.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.removesuffix(".")  # the fully qualified spelling: "localhost." is localhost
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name


def split_authority(authority: str) -> tuple[str, int | None]:
    """("host", port or None) of a Host header or an allowed-hosts entry: "name:8501", "[::1]:8501", "[::1]",
    "::1", "name". ValueError when the port is not a number."""
    authority = authority.strip()
    if authority.startswith("["):
        host, bracket, rest = authority[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"malformed host {authority!r}")
        port = rest[1:] or None
    elif authority.count(":") == 1:
        host, port = authority.split(":")
    else:  # a name, or a bare IPv6 literal
        host, port = authority, None
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"malformed port in {authority!r}")
    return normalize_host(host), int(port) if port is not None else None


def allowed_names(extra: Iterable[str] = ()) -> set[str]:
    """The names this workbench serves: the loopback ones and `extra` (entries may carry a port; it is dropped)."""
    names = {normalize_host(n) for n in LOOPBACK_NAMES}
    for entry in extra:
        try:
            names.add(split_authority(entry)[0])
        except ValueError:
            continue  # a malformed entry names no host; the refusal names the host that was asked for
    names.discard("")
    return names


def _is_loopback(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def refusal(host: str | None, origin: str | None, *, port: int, allowed_hosts: Iterable[str] = (),
            peer: str | None = None) -> str | None:
    """Why a websocket with these headers may not have a session, or None when it may.

    host, origin: the request's Host and Origin headers (None: absent); port: the server's port; allowed_hosts: the
    names the user listed (the loopback names are always allowed); peer: the client's IP address (None: loopback or
    unknown). Rules:
    - Host must name an allowed host (its port is not checked: a proxy or tunnel may listen on another one);
    - an Origin, when present, must be http(s)://<allowed host>:<port>, the port being the server's or the Host
      header's (the port the browser connected to, through a proxy or tunnel); a page elsewhere is foreign;
    - a client on another machine needs an allowed host listed: binding to a public address alone is no opt-in,
      and a client that is not a browser can send any Host header.
    """
    extra = [n for n in allowed_hosts if n.strip()]
    names = allowed_names(extra)
    shown = ", ".join(sorted(f"[{n}]" if ":" in n else n for n in names))
    if not host:
        return "the request has no Host header"
    try:
        host_name, host_port = split_authority(host)
    except ValueError:
        return f"the Host header {host!r} is malformed"
    if host_name not in names:
        return (f"it was addressed as {host_name!r}, a name this workbench does not serve (it serves {shown}; "
                f"add a name with --allowed-hosts or ${ALLOWED_HOSTS_ENV})")
    if origin is not None:
        parts = urlsplit(origin.strip())
        try:
            origin_port = parts.port
        except ValueError:
            origin_port = -1
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname or origin_port == -1:
            return f"it comes from a page at {origin!r}, not from this workbench"
        origin_port = origin_port or DEFAULT_PORTS[parts.scheme]
        ports = {port, host_port or DEFAULT_PORTS[parts.scheme]}
        if normalize_host(parts.hostname) not in names or origin_port not in ports:
            return f"it comes from a page at {origin!r}, not from this workbench"
    if peer is not None and not _is_loopback(peer) and not extra:
        return (f"it comes from another machine ({peer}) and no allowed hosts are set "
                f"(--allowed-hosts or ${ALLOWED_HOSTS_ENV})")
    return None


def configured_hosts(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The names listed by `--allowed-hosts` (the app's arguments after `--`) and $LFWB_ALLOWED_HOSTS."""
    environ = os.environ if environ is None else environ
    listed = [*app_args(argv).allowed_hosts, environ.get(ALLOWED_HOSTS_ENV, "")]
    return [name for entry in listed for name in entry.replace(",", " ").split()]


def request() -> tuple[StreamlitHeaders, str | None]:
    """This session's websocket request: (its headers, the client's IP address or None for loopback)."""
    return st.context.headers, st.context.ip_address


def enforce() -> None:
    """Stop the script with a refusal when this session's websocket request may not have one.

    A run without a websocket request (AppTest, `python app.py`) has no headers and nothing to guard; a real
    websocket request always has some (Upgrade, Sec-WebSocket-Key), and tornado refuses HTTP/1.1 without Host.
    """
    headers, peer = request()
    if not headers:
        return
    if len(headers.get_all("Host")) > 1 or len(headers.get_all("Origin")) > 1:
        why = "the request has several Host or Origin headers"  # which one would a proxy have checked?
    else:
        why = refusal(headers.get("Host"), headers.get("Origin"), port=int(st.get_option("server.port")),
                      allowed_hosts=configured_hosts(), peer=peer)
    if why is None:
        return
    log.warning("%s: %s", REFUSED, why)
    st.error(f"{REFUSED}: {markdown_literal(why)}. Open it at the address it prints when it starts.")
    st.stop()
