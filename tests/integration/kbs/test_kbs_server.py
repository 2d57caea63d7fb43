#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Security tests of the key broker against real cckbs processes.

Each refusal the issue lists is provoked over HTTPS and checked for its HTTP
status, its RFC 7807 rule and its audit record; the logs, the audit table and
the store are then searched for the secret's bytes.  The JWE is also decrypted
here with python3-cryptography (an independent JOSE implementation of
ECDH-ES+A256KW / A256GCM and the RFC 8785 binding).
"""
import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

CCKBS, CCATTEST = sys.argv[1], sys.argv[2]
TESTDATA = os.environ.get("CCSERVE_SHARED_TESTDATA", "")
RES = "model/volume/key"
passed = failed = 0


def check(name, cond, info=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name} {info}")


def run(*args, inp=None, check_rc=True, env=None):
    p = subprocess.run(args, input=inp, capture_output=True, env=env, timeout=60)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"{args}: rc {p.returncode}: {p.stderr.decode(errors='replace')}")
    return p


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jcs(v):
    # RFC 8785 for what the runtime-data holds (ASCII strings, objects).
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


BROKERS = []


class Broker:
    def __init__(self, d, name, extra):
        BROKERS.append(self)
        self.d, self.name = d, name
        self.ready = os.path.join(d, name + ".port")
        self.audit = os.path.join(d, name + ".audit.jsonl")
        self.stderr_path = os.path.join(d, name + ".stderr")
        self.extra = extra
        self.start()

    def start(self):
        if os.path.exists(self.ready):
            os.unlink(self.ready)
        self.err = open(self.stderr_path, "ab")
        self.p = subprocess.Popen(
            [CCKBS, "serve", "--store", os.path.join(self.d, "kbs.db"),
             "--master-key", os.path.join(self.d, "master.key"),
             "--cert", os.path.join(self.d, "srv.pem"), "--key", os.path.join(self.d, "srv.key"),
             "--listen", "127.0.0.1:0", "--ready-file", self.ready,
             "--audit-log", self.audit] + self.extra,
            stdout=subprocess.DEVNULL, stderr=self.err)
        for _ in range(200):
            if os.path.exists(self.ready):
                break
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {open(self.stderr_path).read()}")
            time.sleep(0.05)
        self.port = int(open(self.ready).read())

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        rc = self.p.wait(timeout=30)
        self.err.close()
        return rc

    def url(self):
        return f"https://127.0.0.1:{self.port}"


class Client:
    """A KBS client with its own HTTPS connection (kept alive)."""

    def __init__(self, broker, ca):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.conn = http.client.HTTPSConnection("127.0.0.1", broker.port, context=ctx, timeout=20)
        self.cookie = None

    def req(self, method, path, body=None, cookie=None, raw=None):
        h = {"Content-Type": "application/json"}
        c = cookie if cookie is not None else self.cookie
        if c:
            h["Cookie"] = c
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        payload = r.read()
        sc = r.getheader("Set-Cookie")
        if sc:
            self.cookie = sc.split(";")[0]
        try:
            j = json.loads(payload) if payload else None
        except ValueError:
            j = None
        return r.status, j, payload

    def auth(self, tee="sim"):
        st, j, _ = self.req("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": tee})
        assert st == 200, (st, j)
        return j["nonce"]


def new_key():
    k = ec.generate_private_key(ec.SECP256R1())
    n = k.public_key().public_numbers()
    jwk = {"alg": "ECDH-ES+A256KW", "crv": "P-256", "kty": "EC",
           "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
    return k, jwk


def quote(sim, nonce, jwk, flaw=None):
    rd = hashlib.sha384(jcs({"nonce": nonce, "tee-pubkey": jwk})).digest() + bytes(16)
    args = [CCATTEST, "quote", "--provider", "sim", "--sim-dir", sim, "--report-data", rd.hex()]
    if flaw:
        args += ["--flaw", flaw]
    return base64.b64encode(run(*args).stdout).decode()


def attest_body(nonce, jwk, q):
    return {"runtime-data": {"nonce": nonce, "tee-pubkey": jwk}, "tee-evidence": {"quote": q}}


def jwe_decrypt(priv, jwe):
    hdr = json.loads(b64u_dec(jwe["protected"]))
    assert hdr["enc"] == "A256GCM"
    epk = ec.EllipticCurvePublicNumbers(int.from_bytes(b64u_dec(hdr["epk"]["x"]), "big"),
                                        int.from_bytes(b64u_dec(hdr["epk"]["y"]), "big"),
                                        ec.SECP256R1()).public_key()
    z = priv.exchange(ec.ECDH(), epk)

    def kdf(alg):
        other = (len(alg).to_bytes(4, "big") + alg.encode() + bytes(4) + bytes(4) +
                 (256).to_bytes(4, "big"))
        return ConcatKDFHash(hashes.SHA256(), 32, other).derive(z)
    if hdr["alg"] == "ECDH-ES+A256KW":
        cek = aes_key_unwrap(kdf("ECDH-ES+A256KW"), b64u_dec(jwe["encrypted_key"]))
    else:
        assert hdr["alg"] == "ECDH-ES"
        cek = kdf("A256GCM")
    ct = b64u_dec(jwe["ciphertext"]) + b64u_dec(jwe["tag"])
    return AESGCM(cek).decrypt(b64u_dec(jwe["iv"]), ct, jwe["protected"].encode())


def expect(name, got, status, rule):
    st, j = got[0], got[1]
    r = (j or {}).get("rule")
    check(name, st == status and r == rule, f"want {status} {rule}, got {st} {r}: {got[2][:300]!r}")


def audit_has(broker, reason):
    try:
        lines = [json.loads(l) for l in open(broker.audit)]
    except FileNotFoundError:
        return False
    return any(l.get("reason") == reason and l.get("decision") == "deny" for l in lines)


def main():
    d = tempfile.mkdtemp(prefix="kbs-it-")
    try:
        body(d)
    except Exception as e:  # report, then clean up: never leave a broker running
        traceback.print_exc()
        check("test body ran to the end", False, repr(e))
    finally:
        for br in BROKERS:
            if br.p.poll() is None:
                br.p.kill()
                br.p.wait()
        shutil.rmtree(d, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def body(d):
    j = lambda *p: os.path.join(d, *p)
    # TLS: a CA and a server certificate for 127.0.0.1.
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", j("ca.key"), "-out", j("ca.pem"), "-days", "2", "-subj", "/CN=kbs-test-ca")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", j("srv.key"), "-out", j("srv.csr"), "-subj", "/CN=127.0.0.1")
    with open(j("ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", j("srv.csr"), "-CA", j("ca.pem"), "-CAkey", j("ca.key"),
        "-CAcreateserial", "-out", j("srv.pem"), "-days", "2", "-extfile", j("ext"))
    sim = j("sim")
    run(CCATTEST, "sim", "init", sim)
    simcfg = json.load(open(os.path.join(sim, "sim.json")))
    run(CCKBS, "keygen", "--out", j("master.key"))
    secret = os.urandom(24) + b"VOLKEY-MARKER-7f3a"
    run(CCKBS, "secret", "put", RES, "--store", j("kbs.db"), "--master-key", j("master.key"), inp=secret)
    run(CCKBS, "secret", "put", "model/volume/nopolicy", "--store", j("kbs.db"),
        "--master-key", j("master.key"), inp=secret)
    run(CCKBS, "secret", "put", "model/volume/rtmr", "--store", j("kbs.db"),
        "--master-key", j("master.key"), inp=secret)
    pol = {"mrtd": [simcfg["mrtd"]], "allow_debug": False, "accepted_tcb_status": ["UpToDate"]}
    with open(j("pol.json"), "w") as f:
        json.dump(pol, f)
    run(CCKBS, "policy", "set", RES, j("pol.json"), "--store", j("kbs.db"))
    bad = dict(pol, rtmr2="00" * 48)
    with open(j("pol-rtmr.json"), "w") as f:
        json.dump(bad, f)
    run(CCKBS, "policy", "set", "model/volume/rtmr", j("pol-rtmr.json"), "--store", j("kbs.db"))
    p = run(CCKBS, "policy", "set", RES, j("ext"), "--store", j("kbs.db"), check_rc=False)
    check("policy set refuses a non-policy file", p.returncode == 1 and b"refused" in p.stderr)
    p = run(CCKBS, "secret", "put", "bad name", "--store", j("kbs.db"), "--master-key", j("master.key"),
            inp=b"x", check_rc=False)
    check("secret put refuses a bad name", p.returncode == 1)

    b = Broker(d, "main", ["--sim-root", os.path.join(sim, "root_ca.pem"),
                           "--sim-collateral", os.path.join(sim, "collateral"),
                           "--nonce-ttl", "2", "--max-sessions", "8",
                           "--header-timeout-ms", "700", "--read-timeout-ms", "700",
                           "--workers", "2"])
    ca = j("ca.pem")
    get = lambda *extra: run(CCKBS, "get", "--url", b.url(), "--ca", ca, "--provider", "sim",
                             "--sim-dir", sim, *extra, check_rc=False)

    # The full flow with cckbs get.
    p = get("--resource", RES)
    check("cckbs get releases the secret", p.returncode == 0 and p.stdout == secret, p.stderr[-300:])
    p = get("--resource", RES, "--out", j("out.key"))
    check("cckbs get --out writes a 0600 file", p.returncode == 0 and open(j("out.key"), "rb").read() == secret
          and (os.stat(j("out.key")).st_mode & 0o077) == 0)

    # The flow by hand, JWE decrypted independently.
    c = Client(b, ca)
    nonce = c.auth()
    check("nonce is base64 of 32 bytes", len(base64.b64decode(nonce)) == 32)
    k, jwk = new_key()
    ab = attest_body(nonce, jwk, quote(sim, nonce, jwk))
    st, jj, _ = c.req("POST", "/kbs/v0/attest", ab)
    check("attest accepted", st == 200, jj)
    st, jwe, raw = c.req("GET", "/kbs/v0/resource/" + RES)
    check("resource released as JWE", st == 200 and "protected" in (jwe or {}))
    check("JWE decrypts independently (python3-cryptography)", st == 200 and jwe_decrypt(k, jwe) == secret)
    check("no plaintext in the response", secret not in raw)

    # Replayed nonce.
    expect("replayed nonce refused", c.req("POST", "/kbs/v0/attest", ab), 401, "nonce-replayed")
    check("replayed nonce audited", audit_has(b, "nonce-replayed"))

    # Expired nonce (the broker runs with --nonce-ttl 2).
    c2 = Client(b, ca)
    n2 = c2.auth()
    k2, jwk2 = new_key()
    ab2 = attest_body(n2, jwk2, quote(sim, n2, jwk2))
    time.sleep(2.6)
    expect("expired nonce refused", c2.req("POST", "/kbs/v0/attest", ab2), 401, "nonce-expired")
    check("expired nonce audited", audit_has(b, "nonce-expired"))

    # Evidence from another session.
    ca_, cb_ = Client(b, ca), Client(b, ca)
    na = ca_.auth()
    cb_.auth()
    ka, jwka = new_key()
    expect("evidence from another session refused",
           cb_.req("POST", "/kbs/v0/attest", attest_body(na, jwka, quote(sim, na, jwka))),
           401, "nonce-mismatch")
    check("evidence from another session audited", audit_has(b, "nonce-mismatch"))

    # tee-pubkey different from the one in REPORTDATA.
    c3 = Client(b, ca)
    n3 = c3.auth()
    k3, jwk3 = new_key()
    _, jwk_other = new_key()
    expect("tee-pubkey not the quoted one refused",
           c3.req("POST", "/kbs/v0/attest", attest_body(n3, jwk_other, quote(sim, n3, jwk3))),
           401, "report-data-mismatch")
    check("pubkey swap audited", audit_has(b, "report-data-mismatch"))
    expect("swapped session gets nothing", c3.req("GET", "/kbs/v0/resource/" + RES), 401, "not-attested")

    # Evidence the policy refuses (debug TD, MRTD, RTMR, TCB).
    for flaw, rule in [("debug-td", "debug-td"), ("other-mrtd", "mrtd-not-allowed"),
                       ("out-of-date-tcb", "tcb-status-not-accepted"),
                       ("out-of-date-module", "tcb-status-not-accepted")]:
        p = get("--resource", RES, "--sim-flaw", flaw)
        check(f"{flaw} refused by cckbs get", p.returncode == 1 and rule.encode() in p.stderr
              and secret not in p.stdout, p.stderr[-300:])
        check(f"{flaw} audited", audit_has(b, rule))
    p = get("--resource", "model/volume/rtmr")
    check("RTMR mismatch refused", p.returncode == 1 and b"rtmr2-mismatch" in p.stderr, p.stderr[-300:])
    check("RTMR mismatch audited", audit_has(b, "rtmr2-mismatch"))

    # Resource without a policy, unknown resource.
    p = get("--resource", "model/volume/nopolicy")
    check("resource without policy refused", p.returncode == 1 and b"no-policy" in p.stderr)
    check("no-policy audited", audit_has(b, "no-policy"))
    p = get("--resource", "model/volume/unknown")
    check("unknown resource refused", p.returncode == 1 and b"unknown-resource" in p.stderr)
    check("unknown resource audited", audit_has(b, "unknown-resource"))

    # Oversized body and malformed JSON.
    c4 = Client(b, ca)
    c4.auth()
    expect("oversized body refused", c4.req("POST", "/kbs/v0/attest", raw=b"{" + b" " * (300 * 1024) + b"}"),
           413, "body-too-large")
    check("oversized body audited", audit_has(b, "body-too-large"))
    # Far above: the HTTP layer answers 413 as soon as it sees the announced
    # length, before the body: send the headers only and read the answer.
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", b.port)) as raw_s:
        with ctx.wrap_socket(raw_s, server_hostname="127.0.0.1") as t:
            t.sendall(b"POST /kbs/v0/attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 104857600\r\n\r\n{")
            t.settimeout(10)
            head = t.recv(4096)
    check("100 MB body refused by the HTTP layer (413)", head.startswith(b"HTTP/1.1 413"), head[:60])
    c5 = Client(b, ca)
    expect("malformed JSON refused", c5.req("POST", "/kbs/v0/auth", raw=b'{"version":"0.4.0",'),
           400, "malformed-request")
    expect("duplicate member refused",
           c5.req("POST", "/kbs/v0/auth", raw=b'{"version":"0.4.0","tee":"sim","tee":"tdx"}'),
           400, "malformed-request")
    check("malformed JSON audited", audit_has(b, "malformed-request"))

    # Session table full: the oldest session is evicted.
    first = Client(b, ca)
    nf = first.auth()
    for _ in range(8):
        Client(b, ca).auth()
    kf, jwkf = new_key()
    expect("evicted session refused",
           first.req("POST", "/kbs/v0/attest", attest_body(nf, jwkf, quote(sim, nf, jwkf))),
           401, "no-session")
    check("eviction audited", audit_has(b, "no-session"))

    # Slow clients: a silent TCP connection and a stalled TLS handshake are cut.
    def cut_within(sock, limit):
        sock.settimeout(limit)
        try:
            return sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False if isinstance(sys.exc_info()[1], socket.timeout) else True
    s = socket.create_connection(("127.0.0.1", b.port))
    check("silent client disconnected by the broker", cut_within(s, 15))
    s.close()
    s = socket.create_connection(("127.0.0.1", b.port))
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello that never ends
    check("stalled handshake disconnected by the broker", cut_within(s, 15))
    s.close()
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", b.port)) as raw_s:
        with ctx.wrap_socket(raw_s, server_hostname="127.0.0.1") as t:
            t.sendall(b"POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"vers")
            t.settimeout(15)
            try:
                got = t.recv(4096)
                cut = True  # an answer (408) or EOF: the broker did not wait forever
            except socket.timeout:
                got, cut = b"", False
            except (ConnectionResetError, ssl.SSLError):
                got, cut = b"", True
    check("stalled request body cut by the broker", cut, got[:80])
    p = get("--resource", RES)
    check("broker still serves after slow clients", p.returncode == 0 and p.stdout == secret)

    # SIGHUP reloads policies without dropping connections.
    keep = Client(b, ca)
    nk = keep.auth()
    kk, jwkk = new_key()
    st, _, _ = keep.req("POST", "/kbs/v0/attest", attest_body(nk, jwkk, quote(sim, nk, jwkk)))
    check("kept session attested", st == 200)
    with open(j("pol2.json"), "w") as f:
        json.dump(dict(pol, rtmr0="11" * 48), f)
    run(CCKBS, "policy", "set", RES, j("pol2.json"), "--store", j("kbs.db"))
    st, jwe, _ = keep.req("GET", "/kbs/v0/resource/" + RES)
    check("old policy applies until SIGHUP", st == 200)
    b.p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    st, pj, _ = keep.req("GET", "/kbs/v0/resource/" + RES)
    check("SIGHUP: new policy applies on the same connection", st == 403 and pj.get("rule") == "rtmr0-mismatch",
          (st, pj))
    run(CCKBS, "policy", "set", RES, j("pol.json"), "--store", j("kbs.db"))
    b.p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    st, jwe, _ = keep.req("GET", "/kbs/v0/resource/" + RES)
    check("SIGHUP: restored policy releases again", st == 200 and jwe_decrypt(kk, jwe) == secret)

    # SIGTERM drains and exits 0; a restart loses nothing.
    rc = b.stop()
    check("SIGTERM: clean exit", rc == 0, rc)
    b.start()
    p = get("--resource", RES)
    check("restart keeps secrets and policies", p.returncode == 0 and p.stdout == secret)
    b.stop()

    # A broker that does not pin the sim root refuses sim evidence.
    extra = []
    coll = os.path.join(TESTDATA, "tdx/collateral/dqvl-2025-06/collateral.json")
    if os.path.exists(coll):
        extra = ["--collateral", coll]
    else:
        extra = ["--sim-root", os.path.join(sim, "root_ca.pem"), "--sim-collateral",
                 os.path.join(sim, "collateral-expired")]
    b2 = Broker(d, "nosim", extra)
    c6 = Client(b2, ca)
    if os.path.exists(coll):
        expect("sim tee refused at auth", c6.req("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "sim"}),
               403, "tee-not-trusted")
        n6 = c6.auth("tdx")
        k6, jwk6 = new_key()
        st, pj, _ = c6.req("POST", "/kbs/v0/attest", attest_body(n6, jwk6, quote(sim, n6, jwk6)))
        check("sim evidence posing as tdx refused", st == 401 and pj.get("rule") in
              ("untrusted-root", "collateral-mismatch", "collateral-expired"), (st, pj))
        check("untrusted sim evidence audited", any(audit_has(b2, r) for r in
              ("untrusted-root", "collateral-mismatch", "collateral-expired", "tee-not-trusted")))
    p = run(CCKBS, "get", "--url", b2.url(), "--ca", ca, "--provider", "sim", "--sim-dir", sim,
            "--resource", RES, check_rc=False)
    check("cckbs get against a broker not trusting sim fails", p.returncode == 1 and secret not in p.stdout)
    b2.stop()

    # The CLI's audit query sees the refusals.
    p = run(CCKBS, "audit", "--store", j("kbs.db"), "--decision", "deny", "--json")
    reasons = {json.loads(l)["reason"] for l in p.stdout.decode().splitlines()}
    check("audit table holds the refusals", {"nonce-replayed", "debug-td", "no-policy"} <= reasons, reasons)

    # No plaintext secret in any log, audit record or the store.
    forms = [secret, secret.hex().encode(), base64.b64encode(secret), b64u(secret).encode(),
             b"VOLKEY-MARKER-7f3a"]
    leaks = []
    for name in os.listdir(d):
        path = j(name)
        if not os.path.isfile(path) or name in ("out.key",):
            continue
        data = open(path, "rb").read()
        for f in forms:
            if f in data:
                leaks.append(name)
    check("no secret bytes in logs, audit or store files", not leaks, leaks)
    p = run(CCKBS, "secret", "list", "--store", j("kbs.db"))
    check("secret list shows no values", secret not in p.stdout and b"NO POLICY" in p.stdout)


if __name__ == "__main__":
    main()
