#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Benchmark of the net server: h2load against a trivial gRPC echo handler
over TLS at 1 and 64 concurrent streams, reporting requests/s and latency
percentiles.  The baseline, measured in the same run on the same machine, is
nghttpd (nghttp2's own HTTP/2 server) serving a small file over TLS for the
same requests: the ratio says what the net library costs over a lean C
HTTP/2 server; the p50 difference at 1 stream is the latency net adds.

usage: bench_net.py SERVER_BINARY [--smoke] [--duration S] [--threads N,...]
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

args = sys.argv[1:]
if not args or args[0] in ("-h", "--help"):
    print(__doc__)
    sys.exit(0 if args else 2)
SERVER = args[0]
SMOKE = "--smoke" in args
DURATION = 5
THREADS = [1, 2]
for i, a in enumerate(args):
    if a == "--duration":
        DURATION = int(args[i + 1])
    if a == "--threads":
        THREADS = [int(x) for x in args[i + 1].split(",")]
TMP = tempfile.mkdtemp(prefix="bench-net-")


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=kw.pop("timeout", 300), **kw)


def make_pki():
    def ossl(*a):
        r = sh(["openssl"] + list(a), cwd=TMP)
        if r.returncode:
            raise RuntimeError(r.stderr.decode())
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=bench CA", "-days", "2")
    open(os.path.join(TMP, "ext"), "w").write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """user + system CPU time of a process (all threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def h2load(port, streams, path, n=None, pid=None):
    body = os.path.join(TMP, "msg.bin")
    log = os.path.join(TMP, "h2load.log")
    cmd = ["h2load", "-c", "1", "-t", "1", "-m", str(streams), "-d", body,
           "-H", "content-type: application/grpc", "-H", "te: trailers",
           "--log-file", log]
    if n:
        cmd += ["-n", str(n)]
    else:
        cmd += ["-D", str(DURATION)]
    cmd.append("https://127.0.0.1:%d%s" % (port, path))
    cpu0 = cpu_seconds(pid) if pid else 0
    r = sh(cmd)
    cpu1 = cpu_seconds(pid) if pid else 0
    out = r.stdout.decode()
    m = re.search(r"finished in [^,]+, ([0-9.]+) req/s", out)
    ok = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    if not m or not ok or int(ok.group(3)) != 0 or int(ok.group(2)) == 0:
        raise RuntimeError("h2load failed:\n" + out + r.stderr.decode())
    lat = []
    for line in open(log):
        parts = line.split()
        if len(parts) >= 3 and parts[1].isdigit():
            lat.append(int(parts[2]))
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] if lat else 0
    done = int(ok.group(1))
    cpu_us = (cpu1 - cpu0) * 1e6 / done if done else 0
    return {"rps": float(m.group(1)), "p50": pct(0.50), "p99": pct(0.99), "n": len(lat),
            "cpu_us": cpu_us}


def start_net(threads):
    p = subprocess.Popen([SERVER, "--tls", TMP, "--threads", str(threads)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode()
    if not line.startswith("PORT"):
        raise RuntimeError("server did not start: " + p.stderr.read().decode())
    return p, int(line.split()[1])


def stop(p):
    try:
        p.stdin.close()
    except BrokenPipeError:
        pass
    p.wait(timeout=60)


def start_nghttpd(threads):
    docroot = os.path.join(TMP, "docroot", "test.Echo")
    os.makedirs(docroot, exist_ok=True)
    # the echo answer for "hello": one gRPC frame
    open(os.path.join(docroot, "Echo"), "wb").write(b"\x00" + struct.pack(">I", 5) + b"hello")
    port = free_port()
    p = subprocess.Popen(["nghttpd", "-n", str(threads), "-d", os.path.join(TMP, "docroot"),
                          str(port), os.path.join(TMP, "server.key"),
                          os.path.join(TMP, "server.crt")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nghttpd did not start")


LOAD0 = os.getloadavg()[0]


def main():
    for tool in ("h2load", "openssl"):
        if not shutil.which(tool):
            print("bench_net: missing %s (nghttp2-client, openssl)" % tool)
            return 1
    make_pki()
    open(os.path.join(TMP, "msg.bin"), "wb").write(b"\x00" + struct.pack(">I", 5) + b"hello")
    streams = [1, 64]
    results = []
    for t in THREADS if not SMOKE else [1]:
        p, port = start_net(t)
        try:
            for s in streams:
                r = h2load(port, s, "/test.Echo/Echo", n=200 if SMOKE else None, pid=p.pid)
                results.append(("net", t, s, r))
        finally:
            stop(p)
    have_baseline = shutil.which("nghttpd") is not None and not SMOKE
    if have_baseline:
        for t in THREADS:
            p, port = start_nghttpd(t)
            try:
                for s in streams:
                    results.append(("nghttpd", t, s, h2load(port, s, "/test.Echo/Echo",
                                                            pid=p.pid)))
            finally:
                p.terminate()
                p.wait(timeout=30)
    print("gRPC unary echo over TLS (1 connection, h2load 1 thread; %s)" %
          ("smoke" if SMOKE else "%d s per run" % DURATION))
    print("load average before: %.1f (2 cores shared: absolute numbers drift, ratios hold)" %
          LOAD0)
    print("%-8s %-8s %-8s %12s %10s %10s %14s %16s" % (
        "server", "threads", "streams", "req/s", "p50 us", "p99 us", "server CPU us",
        "req/s per core"))
    for name, t, s, r in results:
        per_core = 1e6 / r["cpu_us"] if r["cpu_us"] else 0
        print("%-8s %-8d %-8d %12.0f %10d %10d %14.1f %16.0f" % (
            name, t, s, r["rps"], r["p50"], r["p99"], r["cpu_us"], per_core))
    if have_baseline:
        base = {(t, s): r for name, t, s, r in results if name == "nghttpd"}
        print("ratios against nghttpd (same threads, same streams):")
        for name, t, s, r in results:
            if name != "net":
                continue
            b = base[(t, s)]
            print("  threads=%d streams=%-3d throughput x%.2f   p50 %+d us   CPU per request x%.2f" %
                  (t, s, r["rps"] / b["rps"] if b["rps"] else 0, r["p50"] - b["p50"],
                   r["cpu_us"] / b["cpu_us"] if b["cpu_us"] else 0))
    else:
        print("(no baseline: %s)" % ("smoke mode" if SMOKE else "nghttpd not installed"))
    shutil.rmtree(TMP, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
