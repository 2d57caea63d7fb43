#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ccclient vs h2load on the same ccserve gRPC endpoint, same request bytes.

Starts ccserve on 127.0.0.1 (TLS, half_plus_two), has ccclient write its
Predict request (--dump-request: the exact gRPC frame), then runs, alternating
and repeated, h2load and ccclient at
  1 stream   (one connection, one call in flight: h2load -c1 -m1, ccclient --cnum 1)
  64 streams (one connection, 64 calls in flight: h2load -c1 -m64, ccclient --streams 64)
  64 conns   (64 connections, one call each: h2load -c64 -m1, ccclient --cnum 64)
and prints requests/s of each (median of the repeats), the ratio
ccclient / h2load, and each client's own CPU time per request (user + system,
which depends much less on how busy the shared machine is than requests/s).
h2load's rate includes its connection set-up (TLS handshakes); ccclient's
excludes it, so a second ratio counts ccclient's set-up time too (the set-up
phase's wall time, taken as its slowest connection: connections come up
concurrently).  h2load counts an HTTP 200 as success and cannot see
grpc-status; ccclient's own count of OK answers shows the bytes are a valid
request.  --smoke: tiny counts, nothing judged.

Usage: bench_client.py --ccclient EXE --ccserve EXE [--fake-engine] [--smoke]
       [--requests N] [--repeats R]
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

METHOD = "/tensorflow.serving.PredictionService/Predict"


CPU = {"last": 0.0}


def sh(cmd, **kw):
    """Run cmd; CPU["last"] = its user + system CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=600, **kw)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["last"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return r


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_cert(d):
    key, crt = os.path.join(d, "server.key"), os.path.join(d, "server.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=grpc.tf.service.com", "-addext",
                    "subjectAltName=DNS:grpc.tf.service.com,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def tp(p):
        s = open(p).read()
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    cfg = os.path.join(d, "ssl.cfg")
    with open(cfg, "w") as f:
        f.write("server_key: %s\nserver_cert: %s\n" % (tp(key), tp(crt)))
    return crt, cfg


def h2load(url, reqfile, n, c, m):
    r = sh(["h2load", "-n", str(n), "-c", str(c), "-m", str(m), "-t", "1",
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            "-d", reqfile, url + METHOD])
    fin = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", r.stdout)
    ok = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", r.stdout)
    status = re.search(r"status codes: (\d+) 2xx", r.stdout)
    if not fin or not ok or int(ok.group(1)) != n or not status or int(status.group(1)) != n:
        raise RuntimeError("h2load failed:\n" + r.stdout + r.stderr)
    return float(fin.group(1))


def ccclient(exe, base, n, c, m):
    per = max(1, n // c)
    r = sh([exe] + base + ["--cnum", str(c), "--streams", str(m), "--loop", str(per),
                           "--warmup", "0", "--quiet", "--json"])
    if r.returncode != 0:
        raise RuntimeError("ccclient failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
    j = json.loads(r.stdout)
    if j["requests"]["ok"] != per * c:
        raise RuntimeError("ccclient: %s" % j["requests"])
    setup_s = j["connection_setup"]["ms"]["max"] / 1e3
    with_setup = per * c / (j["e2e_time_s"] + setup_s) if j["e2e_time_s"] + setup_s > 0 else 0
    return j["requests_per_s"], with_setup


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ccclient", required=True)
    ap.add_argument("--ccserve", required=True)
    ap.add_argument("--fake-engine", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--verbose", action="store_true", help="print every repeat's req/s")
    a = ap.parse_args()
    if not shutil.which("h2load"):
        print("SKIP: h2load (nghttp2-client) not installed")
        return 77
    n = 200 if a.smoke else a.requests
    repeats = 1 if a.smoke else a.repeats
    with tempfile.TemporaryDirectory(prefix="bench-client-") as d:
        crt, cfg = make_cert(d)
        if a.fake_engine:
            mdir = os.path.join(d, "hp")
            os.makedirs(os.path.join(mdir, "1"))
            open(os.path.join(mdir, "1", "saved_model.pb"), "wb").close()
            engine = "ccserve (transport-test build, half_plus_two engine)"
        else:
            mdir = os.path.join(os.environ.get("CCSERVE_SHARED_TESTDATA", "../shared/testdata"),
                                "tfserving", "saved_model_half_plus_two_cpu")
            engine = "ccserve (half_plus_two SavedModel)"
        port = free_port()
        log = open(os.path.join(d, "server.log"), "w")
        srv = subprocess.Popen([a.ccserve, "--bind=127.0.0.1", "--port=%d" % port,
                                "--rest_api_port=0", "--model_name=hp",
                                "--model_base_path=" + mdir, "--ssl_config_file=" + cfg],
                               stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 60
            while "Running gRPC ModelServer" not in open(log.name).read():
                if srv.poll() is not None or time.time() > deadline:
                    raise RuntimeError("ccserve did not start:\n" + open(log.name).read())
                time.sleep(0.05)
            base = ["--url", "127.0.0.1:%d" % port, "--crt", crt, "--servername",
                    "grpc.tf.service.com", "--model", "hp", "--shape", "1"]
            reqfile = os.path.join(d, "req.bin")
            r = sh([a.ccclient] + base + ["--dump-request", reqfile, "--quiet"])
            if r.returncode != 0:
                raise RuntimeError("--dump-request failed: " + r.stderr)
            size = os.path.getsize(reqfile)
            url = "https://127.0.0.1:%d" % port
            print("server: %s, TLS, gRPC; request: %d bytes (gRPC frame), %d requests per run, "
                  "median of %d" % (engine, size, n, repeats))
            print("%-11s %13s %15s %6s %16s   %s" % (
                "config", "h2load req/s", "ccclient req/s", "ratio", "ratio w/ set-up",
                "CPU us/req h2load, ccclient"))
            for name, c, m in (("1 stream", 1, 1), ("64 streams", 1, 64), ("64 conns", 64, 1)):
                hs, cs, cws, hcpu, ccpu = [], [], [], [], []
                for _ in range(repeats):
                    hs.append(h2load(url, reqfile, n, c, m))
                    hcpu.append(CPU["last"] * 1e6 / n)
                    rate, with_setup = ccclient(a.ccclient, base, n, c, m)
                    cs.append(rate)
                    cws.append(with_setup)
                    ccpu.append(CPU["last"] * 1e6 / (max(1, n // c) * c))
                h, cc, cw = statistics.median(hs), statistics.median(cs), statistics.median(cws)
                print("%-11s %13.0f %15.0f %6.2f %16.2f   %.1f, %.1f" % (
                    name, h, cc, cc / h if h else 0, cw / h if h else 0,
                    statistics.median(hcpu), statistics.median(ccpu)))
                if a.verbose:
                    print("  each run, h2load: %s; ccclient: %s" % (
                        " ".join("%.0f" % x for x in hs), " ".join("%.0f" % x for x in cs)))
        finally:
            srv.terminate()
            try:
                srv.wait(20)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait()
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
