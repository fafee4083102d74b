"""The one outbound HTTP client: video downloads from allowed hosts, with SSRF defences.

A URL checker and an HTTP client that parse a URL differently let a caller pass the check
with one host and connect to another.  So this module parses the URL itself, strictly,
and connects to exactly what it checked:

1. the URL must be plain ``http(s)://host[:port]/path?query``: no user-info, backslashes,
   whitespace, control or non-ASCII characters, percent-escapes in the host, or empty host;
2. the host must be on the allow-list (``PROCTOR_ALLOWED_VIDEO_HOSTS``); an IP literal or a
   port other than the scheme's default only when that literal / ``host:port`` is listed;
3. the name is resolved once; every address must be public (no loopback, private,
   link-local, multicast, reserved...), unless it lies in a listed network
   (``PROCTOR_ALLOWED_VIDEO_NETWORKS``) or the host was listed as that IP literal;
4. the connection goes to that address (Host header and TLS SNI/certificate of the name);
5. each redirect is a new URL that goes through 1-4 again (https never falls back to http);
6. one deadline for the whole download and a size cap.

Refusals name the rule broken, never what was found at the address: a closed port, a
refused connection and a timeout all read "could not reach the video host".
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}
URL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?#[]@!$&'()*+,;=%"
)
HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
CHUNK = 1 << 16

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class FetchRefused(Exception):
    """The URL or what it leads to is not allowed, or the download failed (a 400 to clients)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower case name or IP literal (no brackets)
    port: int
    path: str  # path + query, as sent in the request line
    literal: Address | None

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"


@dataclass(frozen=True)
class AllowList:
    names: frozenset[str]  # exact host names, default port
    suffixes: tuple[str, ...]  # ".example.org": the domain and its subdomains, default port
    with_ports: frozenset[tuple[str, int]]  # "host:port" or "[v6]:port" entries
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, hosts: str, networks: str = "") -> AllowList:
        names: set[str] = set()
        suffixes: list[str] = []
        with_ports: set[tuple[str, int]] = set()
        for raw in hosts.split(","):
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            if entry.startswith("*."):
                entry = entry[1:]
            host, port = _split_entry(entry)
            if port is not None:
                with_ports.add((host, port))
            elif host.startswith("."):
                suffixes.append(host)
            else:
                names.add(host)
        nets = tuple(
            ipaddress.ip_network(n.strip(), strict=False) for n in networks.split(",") if n.strip()
        )
        return cls(frozenset(names), tuple(suffixes), frozenset(with_ports), nets)

    @property
    def empty(self) -> bool:
        return not (self.names or self.suffixes or self.with_ports)

    def allows(self, target: Target) -> bool:
        default = target.port == DEFAULT_PORTS[target.scheme]
        if (target.host, target.port) in self.with_ports:
            return True
        if not default:
            return False
        if target.host in self.names:
            return True
        if target.literal is not None:
            return False  # an IP literal only when listed as such
        return any(target.host == s[1:] or target.host.endswith(s) for s in self.suffixes)

    def address_allowed(self, address: Address, target: Target) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if target.literal is not None and address == target.literal:
            return True  # the operator listed this very address
        if any(address in net for net in self.networks):
            return True
        return address.is_global and not address.is_multicast


def _split_entry(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, None


def parse_url(url: str) -> Target:
    """``url`` -> ``Target``, or ``FetchRefused`` for anything but the plain form."""
    if not isinstance(url, str) or not url or len(url) > 4096:
        raise FetchRefused("video_url is empty or too long")
    if any(c not in URL_CHARS for c in url):
        raise FetchRefused(
            "video_url contains characters a URL may not (spaces, backslashes, non-ASCII)"
        )
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS:
        raise FetchRefused("Only http(s) video URLs can be downloaded")
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=-1)
    authority, tail = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
    if "@" in authority:
        raise FetchRefused("video_url may not carry user credentials")
    if "%" in authority or not authority:
        raise FetchRefused("video_url has an invalid host")
    literal: Address | None = None
    if authority.startswith("["):
        host, close, port_part = authority[1:].partition("]")
        if not close or (port_part and not port_part.startswith(":")):
            raise FetchRefused("video_url has an invalid host")
        port_text = port_part[1:] if port_part else None
        try:
            literal = ipaddress.IPv6Address(host)
        except ValueError:
            raise FetchRefused("video_url has an invalid host") from None
        host = str(literal)
    else:
        host, colon, port_text = authority.partition(":")
        port_text = port_text if colon else None
        host = host.lower().rstrip(".")
        if not host or any(c not in HOST_CHARS for c in host) or ".." in host:
            raise FetchRefused("video_url has an invalid host")
        try:
            literal = ipaddress.IPv4Address(host)
        except ValueError:
            literal = None
            if host.replace(".", "").isdigit() or host.startswith("0x"):
                # 2130706433, 0177.0.0.1, 127.1: forms resolvers read as addresses
                raise FetchRefused("video_url has an invalid host") from None
    if port_text is not None:
        if not port_text.isdigit() or len(port_text) > 5 or not 0 < int(port_text) < 65536:
            raise FetchRefused("video_url has an invalid port")
        port = int(port_text)
    else:
        port = DEFAULT_PORTS[scheme]
    path = tail.split("#", 1)[0] or "/"
    if path.startswith("?"):
        path = "/" + path
    return Target(scheme, host, port, path, literal)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def check_target(url: str, allow: AllowList, resolve: Resolver) -> tuple[Target, Address]:
    """Parse, check against the allow-list, resolve once; (target, address to connect to)."""
    if allow.empty:
        raise FetchRefused(
            "Downloading videos is disabled on this server (PROCTOR_ALLOWED_VIDEO_HOSTS is empty)"
        )
    target = parse_url(url)
    if not allow.allows(target):
        raise FetchRefused(f"Video host '{target.host}' is not allowed")
    if target.literal is not None:
        addresses: list[Address] = [target.literal]
    else:
        try:
            found = resolve(target.host, target.port)
        except (OSError, UnicodeError):
            raise FetchRefused("Video download failed: could not reach the video host") from None
        addresses = []
        for text in found:
            try:
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                continue
    if not addresses:
        raise FetchRefused("Video download failed: could not reach the video host")
    # Every address must pass, so that a name with one public and one private answer is refused.
    if not all(allow.address_allowed(a, target) for a in addresses):
        raise FetchRefused(
            f"Video host '{target.host}' resolves to an address this server may not reach"
        )
    return target, addresses[0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed address with the name's SNI and certificate check."""

    def __init__(self, address: str, server_name: str, port: int, timeout: float):
        self.tls = ssl.create_default_context()
        super().__init__(address, port, timeout=timeout, context=self.tls)
        self.server_name = server_name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.server_name)


@dataclass
class Deadline:
    at: float

    def left(self) -> float:
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise FetchRefused("Video download failed: took too long")
        return remaining


def fetch_to_file(
    url: str,
    dest: Path,
    allow: AllowList,
    *,
    max_bytes: int,
    timeout_s: float,
    total_timeout_s: float,
    resolve: Resolver = system_resolver,
) -> int:
    """Download ``url`` into ``dest`` (blocking); returns the size.  ``FetchRefused`` on refusal.

    ``timeout_s`` bounds each connect and read, ``total_timeout_s`` the whole download.
    """
    deadline = Deadline(time.monotonic() + total_timeout_s)
    limit_mb = max_bytes // (1024 * 1024)
    for _ in range(MAX_REDIRECTS + 1):
        target, address = check_target(url, allow, resolve)
        wait = min(timeout_s, deadline.left())
        if target.scheme == "https":
            conn: http.client.HTTPConnection = _PinnedHTTPS(
                str(address), target.host, target.port, wait
            )
        else:
            conn = http.client.HTTPConnection(str(address), target.port, timeout=wait)
        try:
            conn.putrequest("GET", target.path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", target.host_header)
            conn.putheader("Accept-Encoding", "identity")
            conn.putheader("User-Agent", "proctor-video-fetch")
            conn.putheader("Connection", "close")
            conn.endheaders()
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.getheader("location")
                if not location:
                    raise FetchRefused(f"Video download failed: HTTP {resp.status}")
                nxt = urljoin(url, location.strip())
                if target.scheme == "https" and not nxt.lower().startswith("https://"):
                    raise FetchRefused("Video download failed: redirect from https to http")
                url = nxt
                continue
            if resp.status != 200:
                raise FetchRefused(f"Video download failed: HTTP {resp.status}")
            declared = resp.getheader("content-length")
            if declared and declared.strip().isdigit() and int(declared) > max_bytes:
                raise FetchRefused(f"Video too large (limit {limit_mb} MB)")
            size = 0
            with dest.open("wb") as out:
                while True:
                    if conn.sock is not None:
                        conn.sock.settimeout(min(timeout_s, deadline.left()))
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchRefused(f"Video too large (limit {limit_mb} MB)")
                    out.write(chunk)
                    deadline.left()
            if size == 0:
                raise FetchRefused("Video download returned no data")
            return size
        except FetchRefused:
            dest.unlink(missing_ok=True)
            raise
        except ssl.SSLCertVerificationError:
            dest.unlink(missing_ok=True)
            raise FetchRefused(
                "Video download failed: the host's certificate is not valid"
            ) from None
        except (OSError, http.client.HTTPException):
            dest.unlink(missing_ok=True)
            if time.monotonic() >= deadline.at:
                raise FetchRefused("Video download failed: took too long") from None
            raise FetchRefused("Video download failed: could not reach the video host") from None
        finally:
            conn.close()
    raise FetchRefused("Video download failed: too many redirects")
