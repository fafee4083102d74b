"""Model-free tests of server/security: limits, origins, outbound fetch, secrets, log redaction."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import threading

import pytest

from server.security import fetch, limits, logs, origins, secrets


# --- limits -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b'{"x": NaN}',
        b'{"x": Infinity}',
        b'{"x": -Infinity}',
        b'{"x": 1e400}',
        b'{"x": "\\ud800"}',
        b'{"\\udfff": 1}',
        b'{"x": ' + b"1" * 40 + b"}",
        b"[" * 100 + b"]" * 100,
        b"[" * 100_000,
        b"\xff\xfe{",
        b"{",
    ],
)
def test_strict_loads_refuses_what_json_cannot_store(body):
    with pytest.raises(limits.InputRejected) as err:
        limits.strict_loads(body)
    assert err.value.status == 400 and "JSON" in err.value.message


def test_strict_loads_keeps_valid_json():
    text = '{"frame": "abc", "n": 1.5, "k": [1, 2, {"a": "é😀"}], "b": null}'
    assert limits.strict_loads(text.encode()) == json.loads(text)
    deep = b"[" * 32 + b"]" * 32
    assert limits.strict_loads(deep) is not None


@pytest.mark.parametrize(
    "job, message",
    [
        ("text", "must be an object"),
        ({"a": {"b": {"c": {"d": {"e": 1}}}}}, "nested deeper"),
        ({f"k{i}": i for i in range(65)}, "more than 64 keys"),
        ({"name": "x" * 2001}, "2000 characters"),
        ({"k" * 101: 1}, "keys are limited"),
        ({"list": list(range(101))}, "100 items"),
        ({"name": "\ud800"}, "not valid Unicode"),
        ({"n": float("inf")}, "not finite"),
        ({"n": float("nan")}, "not finite"),
        ({"n": 10**40}, "out of range"),
        ({f"k{i}": "é" * 1000 for i in range(20)}, "larger than 16 KB"),
    ],
)
def test_job_data_limits(job, message):
    with pytest.raises(limits.InputRejected, match=message):
        limits.check_object(job, "job_data")


def test_job_data_within_limits_is_kept():
    job = {"jobTitle": "Engineer", "candidateName": "Zoë 😀", "tags": ["a", 1, 2.5, None, True]}
    assert limits.check_object(job, "job_data") is job


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400", float("inf"), "x", None, True])
def test_integer_refuses_non_finite_and_non_numbers(value):
    with pytest.raises(limits.InputRejected):
        limits.check_integer(value, "frame_interval", 1, 100_000)


def test_integer_accepts_whole_numbers():
    assert limits.check_integer("12", "n", 1, 100) == 12
    assert limits.check_integer(12.0, "n", 1, 100) == 12
    with pytest.raises(limits.InputRejected, match="whole number"):
        limits.check_integer(1.5, "n", 1, 100)


def test_text_limits():
    assert limits.check_text("passport", "document_type", 40) == "passport"
    for bad in ("x" * 41, "a\x00b", "\ud800", 5):
        with pytest.raises(limits.InputRejected):
            limits.check_text(bad, "document_type", 40)


def test_readable_repairs_old_rows():
    deep: list = []
    cur = deep
    for _ in range(5000):
        cur.append([])
        cur = cur[0]
    fixed = limits.readable({"name": "a\ud800b", "n": float("inf"), "deep": deep})
    json.dumps(fixed, allow_nan=False).encode("utf-8")  # serialisable, strict
    assert fixed["n"] is None and fixed["name"].startswith("a")


# --- origins ------------------------------------------------------------------------------
def test_origin_defaults_follow_keys():
    assert origins.OriginPolicy.from_setting("", keys_enabled=False).any
    keyed = origins.OriginPolicy.from_setting(None, keys_enabled=True)
    assert keyed.origins == ()
    assert not keyed.allows("https://evil.example", "proctor.bank.example")
    assert keyed.allows("https://proctor.bank.example", "proctor.bank.example")  # same origin
    assert keyed.allows(None, "proctor.bank.example")  # not a browser


def test_origin_list_is_normalised():
    policy = origins.OriginPolicy.from_setting(
        "https://App.Example:443, http://localhost:3000", keys_enabled=True
    )
    assert policy.origins == ("https://app.example", "http://localhost:3000")
    assert policy.allows("https://app.example", "api.example")
    assert not policy.allows("https://app.example.evil", "api.example")
    assert not policy.allows("null", "api.example")
    with pytest.raises(ValueError):
        origins.OriginPolicy.from_setting("not an origin", keys_enabled=False)


# --- outbound fetch -----------------------------------------------------------------------
class Canary:
    """A loopback listener that must never be reached: it records every connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def canary():
    c = Canary()
    yield c
    c.close()


def loopback_resolver(host, port):
    return ["127.0.0.1"]  # what a hostile DNS answer (or rebinding) gives


def fetch_over_loopback(url, dest, allow, **limits):
    """fetch_to_file with small limits (``limits`` override them), every name resolving to
    loopback."""
    kw = dict(max_bytes=1 << 20, timeout_s=2, total_timeout_s=5, resolve=loopback_resolver)
    return fetch.fetch_to_file(url, dest, allow, **{**kw, **limits})


@pytest.mark.parametrize(
    "template",
    [
        "http://videos.example@127.0.0.1:{p}/a.mp4",
        "http://videos.example:80@127.0.0.1:{p}/a.mp4",
        "http://127.0.0.1:{p}\\@videos.example/a.mp4",
        "http://videos.example\\@127.0.0.1:{p}/a.mp4",
        "http://127.0.0.1:{p}#@videos.example/a.mp4",
        "http://127.0.0.1:{p}?@videos.example/a.mp4",
        "http://127.0.0.1:{p}/a.mp4",
        "http://2130706433:{p}/a.mp4",
        "http://0x7f000001:{p}/a.mp4",
        "http://[::1]:{p}/a.mp4",
        "http://[::ffff:127.0.0.1]:{p}/a.mp4",
        "http://videos.example:{p}/a.mp4",
        "http://videos%2eexample@127.0.0.1:{p}/a.mp4",
        "http://videos.example%00.127.0.0.1:{p}/",
        "http://videos.example /a.mp4",
        "http://vidéos.example/a.mp4",
        "ftp://videos.example/a.mp4",
        "http:/videos.example/a.mp4",
        "//videos.example/a.mp4",
        "http://localhost:{p}/a.mp4",
    ],
)
def test_fetch_refuses_parser_differentials(canary, tmp_path, template):
    url = template.format(p=canary.port)
    allow = fetch.AllowList.parse("videos.example")
    with pytest.raises(fetch.FetchRefused) as err:
        fetch_over_loopback(url, tmp_path / "v", allow)
    assert str(canary.port) not in str(err.value)
    assert canary.hits == 0
    assert not (tmp_path / "v").exists()


def test_fetch_refuses_a_name_resolving_to_private_addresses(canary, tmp_path):
    allow = fetch.AllowList.parse("videos.example")
    for answer in (["127.0.0.1"], ["10.0.0.5"], ["169.254.169.254"], ["93.184.216.34", "::1"]):
        with pytest.raises(fetch.FetchRefused, match="may not reach"):
            fetch.check_target("http://videos.example/a.mp4", allow, lambda h, p, a=answer: a)
    assert canary.hits == 0


def test_allow_list_rules():
    allow = fetch.AllowList.parse(".example.org, cdn.example.com:8443, 10.1.2.3")
    t = fetch.parse_url
    assert allow.allows(t("https://a.b.example.org/x"))
    assert allow.allows(t("https://example.org/x"))
    assert not allow.allows(t("https://evilexample.org/x"))
    assert not allow.allows(t("https://a.example.org:8080/x"))  # port not listed
    assert allow.allows(t("https://cdn.example.com:8443/x"))
    assert not allow.allows(t("https://cdn.example.com/x"))
    assert allow.allows(t("http://10.1.2.3/x"))  # listed as that literal
    assert not allow.allows(t("http://10.1.2.4/x"))


class _Files(http.server.BaseHTTPRequestHandler):
    body = b"\x00\x00\x00\x18ftypmp42" * 1000

    def do_GET(self):
        if self.path == "/redirect-canary":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.canary_port}/x")
            self.end_headers()
            return
        if self.path == "/huge":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(self.body * 10)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def files_server(canary):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    srv.canary_port = canary.port
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv.server_port
    srv.shutdown()
    srv.server_close()


def test_fetch_downloads_from_a_listed_host_and_rechecks_redirects(files_server, canary, tmp_path):
    # The storage host is named and its private network listed, as on-premise storage is.
    allow = fetch.AllowList.parse(f"storage.internal:{files_server}", "127.0.0.1/32")
    kw = dict(max_bytes=1 << 20, timeout_s=5, total_timeout_s=10, resolve=loopback_resolver)
    size = fetch.fetch_to_file(
        f"http://storage.internal:{files_server}/v.mp4", tmp_path / "v", allow, **kw
    )
    assert size == len(_Files.body) == (tmp_path / "v").stat().st_size
    with pytest.raises(fetch.FetchRefused, match="not allowed") as err:
        fetch.fetch_to_file(
            f"http://storage.internal:{files_server}/redirect-canary", tmp_path / "r", allow, **kw
        )
    assert str(canary.port) not in str(err.value) and canary.hits == 0
    with pytest.raises(fetch.FetchRefused, match="too large"):
        fetch.fetch_to_file(
            f"http://storage.internal:{files_server}/huge",
            tmp_path / "h",
            allow,
            **{**kw, "max_bytes": len(_Files.body) * 5},
        )
    assert not (tmp_path / "h").exists()


def test_fetch_errors_do_not_tell_closed_from_open_ports(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    allow = fetch.AllowList.parse(f"storage.internal:{port}", "127.0.0.1/32")
    with pytest.raises(fetch.FetchRefused) as err:
        fetch_over_loopback(f"http://storage.internal:{port}/v.mp4", tmp_path / "v", allow)
    assert str(err.value) == "Video download failed: could not reach the video host"


# --- secrets ------------------------------------------------------------------------------
def test_key_hashes_accept_clear_and_hashed_entries():
    key = secrets.new_key()
    other = secrets.new_key()
    hashes = secrets.KeyHashes([secrets.hash_key(key), other])
    assert hashes.matches(key) and hashes.matches(other)
    assert not hashes.matches(secrets.hash_key(key))  # the hash itself is not a key
    assert not hashes.matches("") and not hashes.matches(None)
    assert all(h.startswith("sha256:") for h in hashes.hashes)
    assert key not in repr(hashes.hashes)


def test_tokens_expire_and_are_bound_to_their_session():
    now = [1_000_000.0]
    signer = secrets.TokenSigner(b"s" * 32, clock=lambda: now[0])
    token = signer.candidate_token("sess-1", ttl_s=60)
    claim = signer.verify(secrets.TOKEN_PREFIX, token)
    assert claim is not None and claim.session_id == "sess-1" and claim.kind == "candidate"
    forged = token.replace("sess-1", "sess-2")
    assert signer.verify(secrets.TOKEN_PREFIX, forged) is None
    assert secrets.TokenSigner(b"t" * 32).verify(secrets.TOKEN_PREFIX, token) is None
    assert signer.verify(secrets.TICKET_PREFIX, token) is None  # a token is not a ticket
    now[0] += 61
    assert signer.verify(secrets.TOKEN_PREFIX, token) is None


def test_secret_file_is_made_once_and_private(tmp_path):
    path = tmp_path / "secrets" / "token.key"
    first = secrets.load_or_create_secret(path)
    assert len(first) == 32 and secrets.load_or_create_secret(path) == first
    assert path.stat().st_mode & 0o077 == 0


def test_embedding_cipher_round_trip_rotation_and_binding():
    old, new = (secrets.decode_key(secrets.new_embedding_key()) for _ in range(2))
    plain = bytes(range(256)) * 8
    blob = secrets.EmbeddingCipher([old]).encrypt(plain, "s1")
    assert secrets.EmbeddingCipher.is_encrypted(blob) and plain not in blob
    rotated = secrets.EmbeddingCipher([new, old])
    assert rotated.decrypt(blob, "s1") == plain and not rotated.current_key(blob)
    assert rotated.decrypt(plain, "s1") == plain  # a clear row from before encryption
    with pytest.raises(secrets.CipherError):
        rotated.decrypt(blob, "s2")  # moved to another session
    with pytest.raises(secrets.CipherError):
        secrets.EmbeddingCipher([new]).decrypt(blob, "s1")  # the old key is gone


# --- logs ---------------------------------------------------------------------------------
def test_log_redaction(caplog):
    logger = logging.getLogger("proctor.test-redact")
    logger.addFilter(logs.RedactSecrets())
    with caplog.at_level(logging.INFO, logger="proctor.test-redact"):
        logger.info(
            '%s - "GET %s HTTP/1.1" 200',
            "127.0.0.1",
            "/console/dashboard?key=pk_supersecretvalue123456&x=1",
        )
        logger.info("token ct_%s seen", "abcdef0123456789abcdef.candidate.s1.sig")
        logger.info("Authorization: Bearer sometoken123")
    text = caplog.text
    assert "supersecret" not in text and "abcdef0123456789" not in text
    assert "sometoken123" not in text and "x=1" in text
