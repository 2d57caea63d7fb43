#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Integration tests of the net server against real peers: curl (HTTP/1.1 and
HTTP/2 over TLS), nghttp and h2load (nghttp2-client), Python grpcio, and raw
sockets for robustness (malformed requests, oversized bodies, slowloris,
disconnects, HTTP/2 protocol errors, the concurrent-stream limit).

usage: peers.py ECHO_SERVER_BINARY GROUP   (GROUP: curl, grpc, robust)
Prints one line per check and "N passed, N failed" at the end.
"""
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SERVER = sys.argv[1]
GROUP = sys.argv[2] if len(sys.argv) > 2 else "all"
TMP = tempfile.mkdtemp(prefix="net-it-")
RESULTS = {"passed": 0, "failed": 0}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=kw.pop("timeout", 60), **kw)


def make_pki():
    """A test CA, a server cert for localhost/127.0.0.1 and a client cert."""
    def ossl(*args):
        r = run(["openssl"] + list(args), cwd=TMP)
        if r.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (args[0], r.stderr.decode()))
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=net integration CA", "-days", "2")
    with open(os.path.join(TMP, "srv.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n")
    with open(os.path.join(TMP, "cli.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n")
    for name, ext in (("server", "srv.ext"), ("client", "cli.ext")):
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + (
                 "localhost" if name == "server" else "net test client"))
        ossl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", ext)


class Server:
    def __init__(self, *args, tls=True):
        cmd = [SERVER] + (["--tls", TMP] if tls else []) + list(args)
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        line = self.p.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError("server did not start: %r %s" % (line, self.p.stderr.read()))
        self.port = int(line.split()[1])

    def stop(self):
        """Close stdin (graceful shutdown); returns (exit code, stats line)."""
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        out = self.p.stdout.read().decode()
        err = self.p.stderr.read().decode()
        rc = self.p.wait(timeout=60)
        return rc, out, err

    def alive(self):
        return self.p.poll() is None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        if self.p.poll() is None:
            rc, out, err = self.stop()
            if rc != 0:
                raise AssertionError("server exited %d: %s" % (rc, err[-2000:]))


def check(name, fn):
    try:
        fn()
        RESULTS["passed"] += 1
        print("ok   %s" % name, flush=True)
    except Exception:
        RESULTS["failed"] += 1
        print("FAIL %s\n%s" % (name, traceback.format_exc()), flush=True)


def curl(*args):
    r = run(["curl", "-sS", "--max-time", "20", "--cacert", os.path.join(TMP, "ca.crt")] +
            list(args))
    return r


def expect(cond, msg=""):
    if not cond:
        raise AssertionError(msg)


# ---------------------------------------------------------------- curl, nghttp, h2load

def t_curl_h1():
    with Server() as s:
        u = "https://localhost:%d" % s.port
        r = curl("--http1.1", "-w", "%{http_version} %{http_code}", u + "/hello")
        expect(r.stdout == b"hello\n1.1 200", r.stdout + r.stderr)
        body = os.urandom(200000)
        path = os.path.join(TMP, "body.bin")
        open(path, "wb").write(body)
        r = curl("--http1.1", "--data-binary", "@" + path, u + "/echo")
        expect(r.stdout == body, "echo mismatch (%d bytes)" % len(r.stdout))
        # chunked upload
        r = curl("--http1.1", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + path,
                 u + "/echo")
        expect(r.stdout == body, "chunked echo mismatch")
        # keep-alive: two URLs on one connection, one answered from a worker thread
        r = curl("--http1.1", "-v", u + "/slow", u + "/hello")
        expect(r.stdout == b"slow\nhello\n", r.stdout)
        expect(b"Re-using existing connection" in r.stderr or b"Reusing" in r.stderr,
               "connection not reused")
        r = curl("--http1.1", "-w", "%{http_code}", "-o", "/dev/null", u + "/missing")
        expect(r.stdout == b"404", r.stdout)
        r = curl("--http1.1", "-I", u + "/hello")
        expect(b"content-length: 6" in r.stdout.lower(), r.stdout)


def t_curl_h2():
    with Server("--async") as s:
        u = "https://localhost:%d" % s.port
        r = curl("--http2", "-w", " %{http_version} %{http_code}", u + "/hello")
        expect(r.stdout == b"hello\n 2 200", r.stdout + r.stderr)
        body = os.urandom(300000)
        path = os.path.join(TMP, "body2.bin")
        open(path, "wb").write(body)
        r = curl("--http2", "--data-binary", "@" + path, u + "/echo")
        expect(r.stdout == body, "h2 echo mismatch")
        r = curl("--http2", "--parallel", u + "/slow", u + "/hello", u + "/slow")
        expect(sorted(r.stdout.split(b"\n")) == sorted(b"slow\nhello\nslow\n".split(b"\n")),
               r.stdout)


def t_nghttp():
    with Server() as s:
        # -y: nghttp has no CA option; the certificate paths are covered by curl and grpcio
        r = run(["nghttp", "-nv", "-y", "https://localhost:%d/hello" % s.port])
        expect(r.returncode == 0, r.stderr)
        expect(b"recv SETTINGS" in r.stdout and b":status: 200" in r.stdout, r.stdout[-500:])
        # HEAD, several streams on one connection
        r = run(["nghttp", "-y", "-m", "20", "https://localhost:%d/hello" % s.port])
        expect(r.returncode == 0 and r.stdout.count(b"hello") == 20, r.stdout[-300:])


def grpc_body(payload):
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def t_h2load():
    path = os.path.join(TMP, "msg.bin")
    open(path, "wb").write(grpc_body(b"hello"))
    with Server("--threads", "2") as s:
        r = run(["h2load", "-n", "2000", "-c", "4", "-m", "16", "-d", path,
                 "-H", "content-type: application/grpc", "-H", "te: trailers",
                 "https://localhost:%d/test.Echo/Echo" % s.port], timeout=120)
        out = r.stdout.decode()
        expect("2000 succeeded, 0 failed, 0 errored" in out, out)
        expect("2000 2xx" in out, out)


# ---------------------------------------------------------------- grpcio

def grpc_channel(port, client_cert=False, opts=None):
    import grpc
    ca = open(os.path.join(TMP, "ca.crt"), "rb").read()
    if client_cert:
        creds = grpc.ssl_channel_credentials(
            ca, open(os.path.join(TMP, "client.key"), "rb").read(),
            open(os.path.join(TMP, "client.crt"), "rb").read())
    else:
        creds = grpc.ssl_channel_credentials(ca)
    return grpc.secure_channel("localhost:%d" % port, creds, options=opts or [])


def t_grpc_echo():
    import grpc
    for mode in ([], ["--async"]):
        with Server(*mode) as s:
            ch = grpc_channel(s.port)
            echo = ch.unary_unary("/test.Echo/Echo")
            expect(echo(b"hello grpc", timeout=10) == b"hello grpc")
            expect(echo(b"", timeout=10) == b"")
            big = os.urandom(3 << 20)
            expect(echo(big, timeout=30) == big, "3 MiB echo")
            resp, call = echo.with_call(b"abc", timeout=10)
            expect(dict(call.trailing_metadata()).get("x-echo-len") == "3")
            expect(call.code() == grpc.StatusCode.OK)
            ch.close()


def t_grpc_status():
    import grpc
    with Server() as s:
        ch = grpc_channel(s.port)
        echo = ch.unary_unary("/test.Echo/Echo")
        try:
            echo(b"", metadata=[("x-status", "5"), ("x-message", "special")], timeout=10)
            raise AssertionError("no error")
        except grpc.RpcError as e:
            expect(e.code() == grpc.StatusCode.NOT_FOUND, e.code())
            expect(e.details() == "not here: 100% \u00fc\n\x01", repr(e.details()))
        try:
            ch.unary_unary("/test.Echo/Nope")(b"", timeout=10)
            raise AssertionError("no error")
        except grpc.RpcError as e:
            expect(e.code() == grpc.StatusCode.UNIMPLEMENTED, e.code())
        ch.close()


def t_grpc_gzip():
    import grpc
    with Server() as s:
        ch = grpc_channel(s.port)
        echo = ch.unary_unary("/test.Echo/Echo")
        data = b"compressible " * 50000
        r, call = echo.with_call(data, compression=grpc.Compression.Gzip,
                                 metadata=[("x-compress", "1")], timeout=20)
        expect(r == data)
        ch.close()
        ch = grpc_channel(s.port, opts=[("grpc.default_compression_algorithm", 2)])
        expect(ch.unary_unary("/test.Echo/Echo")(data, timeout=20) == data)
        ch.close()


def t_grpc_deadline_cancel():
    import grpc
    with Server() as s:
        ch = grpc_channel(s.port)
        sleep = ch.unary_unary("/test.Echo/Sleep")
        try:
            sleep(b"", timeout=0.3)
            raise AssertionError("no deadline")
        except grpc.RpcError as e:
            expect(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code())
        # explicit cancellation of a future
        fut = sleep.future(b"", metadata=[("x-sleep-ms", "20000")])
        time.sleep(0.3)
        fut.cancel()
        expect(fut.cancelled())
        # the server saw two cancellations (RST_STREAM) and answered them
        ok = False
        for _ in range(200):
            st = json.loads(curl("https://localhost:%d/stats" % s.port).stdout)
            if st["cancelled"] >= 2:
                ok = True
                break
            time.sleep(0.05)
        expect(ok, "server did not report the cancellations: %s" % st)
        ch.close()


def t_grpc_concurrent():
    import grpc
    with Server("--async", "--threads", "2") as s:
        ch = grpc_channel(s.port)
        echo = ch.unary_unary("/test.Echo/Echo")
        futs = [echo.future(b"m%d" % i, timeout=30) for i in range(256)]
        for i, f in enumerate(futs):
            expect(f.result() == b"m%d" % i)
        ch.close()


def t_grpc_mtls():
    import grpc
    with Server("--client-verify", "require") as s:
        ch = grpc_channel(s.port, client_cert=True)
        expect(ch.unary_unary("/test.Echo/Echo")(b"m", timeout=10) == b"m")
        ch.close()
        ch = grpc_channel(s.port)
        try:
            ch.unary_unary("/test.Echo/Echo")(b"m", timeout=5)
            raise AssertionError("call without a client certificate succeeded")
        except grpc.RpcError as e:
            expect(e.code() == grpc.StatusCode.UNAVAILABLE, e.code())
        ch.close()
        r = curl("--cert", os.path.join(TMP, "client.crt"), "--key", os.path.join(TMP, "client.key"),
                 "https://localhost:%d/peer" % s.port)
        expect(r.stdout == b"verified\n", r.stdout + r.stderr)


def t_grpc_max_message():
    import grpc
    with Server("--max-msg", "1000") as s:
        ch = grpc_channel(s.port)
        echo = ch.unary_unary("/test.Echo/Echo")
        expect(echo(b"x" * 1000, timeout=10) == b"x" * 1000)
        try:
            echo(b"x" * 1001, timeout=10)
            raise AssertionError("oversized message accepted")
        except grpc.RpcError as e:
            expect(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.code())
        # a compressed message that inflates past the cap (decompression bomb)
        try:
            echo(b"\0" * 100000, compression=grpc.Compression.Gzip, timeout=10)
            raise AssertionError("oversized decompressed message accepted")
        except grpc.RpcError as e:
            expect(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.code())
        expect(echo(b"still fine", timeout=10) == b"still fine")
        ch.close()


# ---------------------------------------------------------------- robustness (raw sockets)

def raw(port, tls=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        ctx = ssl.create_default_context(cafile=os.path.join(TMP, "ca.crt"))
        ctx.set_alpn_protocols(["http/1.1"])
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


def read_all(s, limit=1 << 20):
    data = b""
    try:
        while len(data) < limit:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (ConnectionResetError, ssl.SSLError):
        pass
    return data


def t_malformed_h1():
    cases = [
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", b"501"),
        (b"GARBAGE\x00\x01\x02\r\n\r\n", b"400"),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 70000 + b"\r\n\r\n", b"431"),
    ]
    for tls in (False, True):
        with Server(tls=tls) as s:
            for req, code in cases:
                c = raw(s.port, tls)
                c.sendall(req)
                resp = read_all(c)
                c.close()
                expect(resp.startswith(b"HTTP/1.1 " + code), (req[:40], resp[:80]))
                expect(b"connection: close" in resp.lower(), resp[:200])
            # still serving
            c = raw(s.port, tls)
            c.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            expect(read_all(c).endswith(b"hello\n"))
            c.close()


def t_oversized_body():
    with Server("--max-body", "1000") as s:
        u = "https://localhost:%d/echo" % s.port
        p = subprocess.run(["curl", "-sS", "--cacert", os.path.join(TMP, "ca.crt"), "--http1.1",
                            "-w", "%{http_code}", "-o", "/dev/null", "--data-binary", "@-", u],
                           input=b"y" * 1000, capture_output=True, timeout=20)
        expect(p.stdout == b"200", p.stdout)
        for ver in ("--http1.1", "--http2"):
            p = subprocess.run(["curl", "-sS", "--cacert", os.path.join(TMP, "ca.crt"), ver,
                                "-w", "%{http_code}", "-o", "/dev/null", "--data-binary", "@-", u],
                               input=b"y" * 5000, capture_output=True, timeout=20)
            expect(p.stdout == b"413", (ver, p.stdout, p.stderr))
        # chunked body over the limit
        c = raw(s.port, True)
        c.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                  b"7d0\r\n" + b"z" * 2000 + b"\r\n0\r\n\r\n")
        expect(read_all(c).startswith(b"HTTP/1.1 413"))
        c.close()


def t_slowloris():
    with Server("--header-timeout-ms", "300", "--read-timeout-ms", "300",
                "--idle-timeout-ms", "300", tls=False) as s:
        # headers that never finish: closed after the header timeout even
        # though bytes keep trickling in
        c = raw(s.port)
        c.sendall(b"GET / HTTP/1.1\r\n")
        closed = False
        for _ in range(100):
            try:
                c.sendall(b"X: y\r\n")
                time.sleep(0.05)
                c.settimeout(0.001)
                if c.recv(1) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            finally:
                c.settimeout(10)
        expect(closed, "slow header sender was not disconnected")
        c.close()
        # a body that stalls
        c = raw(s.port)
        c.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
        expect(read_all(c) == b"", "stalled body got an answer")
        c.close()
        # silent TLS-less idle connection and a silent TCP connection
        c = raw(s.port)
        expect(read_all(c) == b"")
        c.close()
        expect(s.alive())
    with Server("--header-timeout-ms", "300") as s:
        # a TLS handshake that never starts
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        expect(read_all(c) == b"")
        c.close()


def t_disconnect_mid_request():
    with Server(tls=False) as s:
        for _ in range(20):
            c = raw(s.port)
            c.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
            c.close()
            c = raw(s.port)
            c.sendall(b"GET /hel")
            c.close()
        # waiting for an answer, then gone: the handler is told
        c = raw(s.port)
        c.sendall(b"GET /sleep HTTP/1.1\r\nHost: a\r\nx-sleep-ms: 20000\r\n\r\n")
        time.sleep(0.2)
        c.close()
        ok = False
        for _ in range(200):
            c = raw(s.port)
            c.sendall(b"GET /stats HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            st = json.loads(read_all(c).split(b"\r\n\r\n", 1)[1])
            c.close()
            if st["cancelled"] >= 1:
                ok = True
                break
            time.sleep(0.05)
        expect(ok, "no cancellation reported: %s" % st)
        c = raw(s.port)
        c.sendall(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        expect(read_all(c).endswith(b"hello\n"))
        c.close()


def h2_frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def h2_goaway_seen(data):
    """Walk the frames the server sent; True if a GOAWAY is among them."""
    i = 0
    while i + 9 <= len(data):
        n = int.from_bytes(data[i:i + 3], "big")
        if data[i + 3] == 7:
            return True
        i += 9 + n
    return False


def t_h2_protocol_errors():
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    bad = [
        h2_frame(4, 0, 0, b"\x00\x00\x00"),                 # SETTINGS with a bad length
        h2_frame(0, 0, 0, b"data on stream 0"),             # DATA on stream 0
        h2_frame(1, 4, 2, b"\x82"),                         # HEADERS on an even stream id
        h2_frame(1, 4, 1, b"\xff\xff\xff\xff"),             # undecodable HPACK
        h2_frame(8, 0, 0, b"\x00\x00\x00\x00"),             # WINDOW_UPDATE of 0
        h2_frame(4, 0, 0, b"") + h2_frame(9, 0, 1, b""),    # CONTINUATION out of place
        b"\x00\x40\x00\x04\x00\x00\x00\x00\x00" + b"\x00" * 16384,  # oversized SETTINGS
    ]
    with Server(tls=False) as s:
        for frames in bad:
            c = raw(s.port)
            c.sendall(preface + h2_frame(4, 0, 0, b"") + frames)
            data = read_all(c)
            c.close()
            expect(h2_goaway_seen(data), "no GOAWAY for %r: %r" % (frames[:20], data[:100]))
        # preface garbage: not HTTP/2, not HTTP/1.1
        c = raw(s.port)
        c.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        read_all(c)
        c.close()
        expect(s.alive())
        r = run(["curl", "-sS", "--http2-prior-knowledge", "http://127.0.0.1:%d/hello" % s.port])
        expect(r.stdout == b"hello\n", r.stdout + r.stderr)


def t_stream_limit():
    """With SETTINGS_MAX_CONCURRENT_STREAMS = 4, a client with 200 calls in
    flight on one connection never gets more than 4 into the handler, and every
    call succeeds (grpcio queues above the limit and retries streams the
    server refused before its SETTINGS arrived)."""
    import grpc
    with Server("--max-streams", "4", "--async", "--threads", "1") as s:
        ch = grpc_channel(s.port)
        echo = ch.unary_unary("/test.Echo/Echo")
        futs = [echo.future(b"s%d" % i, timeout=60) for i in range(200)]
        for i, f in enumerate(futs):
            expect(f.result() == b"s%d" % i)
        ch.close()
        st = json.loads(curl("https://localhost:%d/stats" % s.port).stdout)
        expect(1 <= st["max_inflight"] <= 4, st)
    # h2load does not retry refused streams: within the limit it sees no error
    path = os.path.join(TMP, "msg.bin")
    open(path, "wb").write(grpc_body(b"hello"))
    with Server("--max-streams", "4", "--threads", "1") as s:
        r = run(["h2load", "-n", "400", "-c", "1", "-m", "4", "-d", path,
                 "-H", "content-type: application/grpc", "-H", "te: trailers",
                 "https://localhost:%d/test.Echo/Echo" % s.port], timeout=120)
        out = r.stdout.decode()
        expect("400 succeeded" in out, out)


def t_graceful_shutdown():
    s = Server("--grace-ms", "10000")
    res = {}

    def slow():
        res["r"] = curl("-H", "x-sleep-ms: 500", "https://localhost:%d/sleep" % s.port)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.2)
    rc, out, err = s.stop()
    t.join()
    expect(rc == 0, err)
    expect(res["r"].stdout == b"slow\n", res["r"].stdout + res["r"].stderr)
    expect("shutdown: success" in err, err)


GROUPS = {
    "curl": [t_curl_h1, t_curl_h2, t_nghttp, t_h2load],
    "grpc": [t_grpc_echo, t_grpc_status, t_grpc_gzip, t_grpc_deadline_cancel, t_grpc_concurrent,
             t_grpc_mtls, t_grpc_max_message],
    "robust": [t_malformed_h1, t_oversized_body, t_slowloris, t_disconnect_mid_request,
               t_h2_protocol_errors, t_stream_limit, t_graceful_shutdown],
}


def main():
    for tool in ("openssl", "curl", "nghttp", "h2load"):
        if not shutil.which(tool):
            print("missing tool: %s (scripts/install-deps installs it)" % tool)
            return 1
    make_pki()
    groups = GROUPS.keys() if GROUP == "all" else [GROUP]
    for g in groups:
        for fn in GROUPS[g]:
            check(fn.__name__[2:], fn)
    shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
