"""The hub's own CA and serving certificate, and the kubeconfig that trusts them."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from pathlib import Path

import yaml

from axle.server.tls import ensure_serving_cert, write_kubeconfig


def test_certificate_verifies_against_the_hub_ca_for_loopback(tmp_path: Path) -> None:
    paths = ensure_serving_cert(tmp_path, ["127.0.0.1"])
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(paths.cert_path, paths.key_path)
    client_ctx = ssl.create_default_context(cafile=str(paths.ca_path))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"ok")

    t = threading.Thread(target=serve)
    t.start()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.recv(2) == b"ok"
    t.join()
    listener.close()


def test_reused_when_valid_and_reissued_for_a_new_host(tmp_path: Path) -> None:
    first = ensure_serving_cert(tmp_path, ["127.0.0.1"])
    cert1, ca1 = first.cert_path.read_bytes(), first.ca_path.read_bytes()
    ensure_serving_cert(tmp_path, ["127.0.0.1"])
    assert first.cert_path.read_bytes() == cert1
    ensure_serving_cert(tmp_path, ["hub.example.internal"])
    assert first.cert_path.read_bytes() != cert1
    assert first.ca_path.read_bytes() == ca1  # same CA: clients keep trusting the hub
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600


def test_kubeconfig_points_at_https_with_ca_and_token(tmp_path: Path) -> None:
    paths = ensure_serving_cert(tmp_path, [])
    kc = write_kubeconfig(tmp_path, "https://127.0.0.1:8443", "tok", paths.ca_path)
    assert stat.S_IMODE(kc.stat().st_mode) == 0o600
    doc = yaml.safe_load(kc.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:8443"
    assert Path(doc["clusters"][0]["cluster"]["certificate-authority"]).exists()
    assert doc["users"][0]["user"]["token"] == "tok"
