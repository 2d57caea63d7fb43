#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ccattest collateral fetch against a local PCS v4 compatible server that
serves the gtg-2023 collateral (testdata/tdx/collateral/gtg-2023), then
verification of the fetched directory, the cache (honouring nextUpdate) and
fetch failures.  Binds 127.0.0.1 only."""
import http.server
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.parse

CCATTEST = sys.argv[1]
TD = os.path.join(os.environ.get("CCSERVE_SHARED_TESTDATA", "../shared/testdata"), "tdx")
COLL = os.path.join(TD, "collateral", "gtg-2023")
QUOTE = os.path.join(TD, "quotes", "v4-debug-td.dat")
FMSPC = "50806F000000"
hits = []
mode = {"broken": None}


def read(name):
    with open(os.path.join(COLL, name), "rb") as f:
        return f.read()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        hits.append(self.path)
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        chain = lambda n: urllib.parse.quote(read(n).decode())
        if mode["broken"] == "500":
            return self.send(500, b"oops")
        if u.path == "/tdx/certification/v4/tcb":
            if q.get("fmspc") != [FMSPC]:
                return self.send(404)
            body = read("tcb_info.json")
            if mode["broken"] == "tamper":
                body = body.replace(b'"tcbEvaluationDataNumber":15', b'"tcbEvaluationDataNumber":16')
            hdr = {} if mode["broken"] == "noheader" else {"TCB-Info-Issuer-Chain": chain("tcb_info_issuer_chain.pem")}
            return self.send(200, body, hdr)
        if u.path == "/tdx/certification/v4/qe/identity":
            return self.send(200, read("qe_identity.json"),
                             {"SGX-Enclave-Identity-Issuer-Chain": chain("qe_identity_issuer_chain.pem")})
        if u.path == "/sgx/certification/v4/pckcrl":
            if q.get("ca") != ["platform"] or q.get("encoding") != ["der"]:
                return self.send(400)
            return self.send(200, read("pck_crl.der"),
                             {"SGX-PCK-CRL-Issuer-Chain": chain("pck_crl_issuer_chain.pem")})
        if u.path == "/sgx/certification/v4/rootcacrl":
            return self.send(200, read("root_ca_crl.der").hex().encode())  # PCCS style: hex
        return self.send(404)


def run(*args, ok=True):
    p = subprocess.run([CCATTEST, *args], capture_output=True, text=True)
    if ok and p.returncode != 0 or not ok and p.returncode == 0:
        print("command:", args, "rc", p.returncode, p.stdout, p.stderr)
        sys.exit(1)
    return p


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    with tempfile.TemporaryDirectory() as tmp:
        out, cache = os.path.join(tmp, "out"), os.path.join(tmp, "cache")
        at = "2023-07-01T01:00:00Z"
        run("collateral", "fetch", "--pccs", url, "--out", out, "--cache", cache, "--at", at, QUOTE)
        assert len(hits) == 4, hits
        # byte-identical to what was served, and it verifies
        with open(os.path.join(out, "tcb_info.json"), "rb") as f:
            assert f.read() == read("tcb_info.json")
        p = run("verify", QUOTE, "--collateral", out, "--at", at, "--json", ok=False)
        assert '"tcb_status":"UpToDate"' in p.stdout.replace(" ", ""), p.stdout
        assert "debug" in p.stdout  # refused: debug TD
        p = run("verify", QUOTE, "--collateral", out, "--at", at,
                "--policy", os.path.join(tmp, "nopolicy.json"), ok=False)
        assert p.returncode == 3
        with open(os.path.join(tmp, "debug.json"), "w") as f:
            f.write('{"allow_debug": true}')
        run("verify", QUOTE, "--collateral", out, "--at", at, "--policy", os.path.join(tmp, "debug.json"))
        # second fetch inside nextUpdate: served from the cache
        out2 = os.path.join(tmp, "out2")
        run("collateral", "fetch", "--pccs", url, "--out", out2, "--cache", cache, "--at", at, QUOTE)
        assert len(hits) == 4, hits
        # after the earliest nextUpdate: fetched again
        run("collateral", "fetch", "--pccs", url, "--out", out2, "--cache", cache,
            "--at", "2023-07-20T00:00:00Z", QUOTE)
        assert len(hits) == 8, hits
        # failures: HTTP error, missing issuer-chain header, nothing listening
        for m in ("500", "noheader"):
            mode["broken"] = m
            p = run("collateral", "fetch", "--pccs", url, "--out", os.path.join(tmp, m), "--at", at, QUOTE, ok=False)
            assert "collateral fetch failed" in p.stderr, p.stderr
        # tampered TCB Info fetches (it parses) but fails verification
        mode["broken"] = "tamper"
        bad = os.path.join(tmp, "tamper")
        run("collateral", "fetch", "--pccs", url, "--out", bad, "--at", at, QUOTE)
        p = run("verify", QUOTE, "--collateral", bad, "--at", at, ok=False)
        assert "TCB Info signature invalid" in p.stdout, p.stdout
        mode["broken"] = None
        # https with a PCCS-style self-signed certificate: refused unless pinned
        key, crt = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
        threading.Thread(target=tls.serve_forever, daemon=True).start()
        turl = "https://127.0.0.1:%d" % tls.server_address[1]
        p = run("collateral", "fetch", "--pccs", turl, "--out", os.path.join(tmp, "tls0"), "--at", at, QUOTE, ok=False)
        assert "collateral fetch failed" in p.stderr
        run("collateral", "fetch", "--pccs", turl, "--cacert", crt, "--out", os.path.join(tmp, "tls1"), "--at", at, QUOTE)
        run("verify", QUOTE, "--collateral", os.path.join(tmp, "tls1"), "--at", at, "--policy",
            os.path.join(tmp, "debug.json"))
        tls.shutdown()
        tls.server_close()
        srv.shutdown()
        srv.server_close()
        p = run("collateral", "fetch", "--pccs", url, "--out", os.path.join(tmp, "down"), QUOTE, ok=False)
        p = run("collateral", "fetch", "--pccs", "ftp://127.0.0.1/", "--out", os.path.join(tmp, "ftp"), QUOTE, ok=False)
    print("ok")


main()
