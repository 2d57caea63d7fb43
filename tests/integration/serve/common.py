# SPDX-License-Identifier: Apache-2.0
"""Helpers for the ccserve integration tests: stubs generated from proto/,
a throw-away PKI made with the openssl CLI, and a managed server process."""
import os
import re
import struct
import signal
import subprocess
import sys
import tempfile
import time

PASSED = 0
FAILED = 0


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok   - " + name)
    else:
        FAILED += 1
        print("FAIL - " + name + (": " + str(detail) if detail else ""))


def summary():
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def gen_stubs(proto_root, out):
    from grpc_tools import protoc
    files = []
    for d in ("tf", "tfs"):
        for f in sorted(os.listdir(os.path.join(proto_root, d))):
            if f.endswith(".proto"):
                files.append(os.path.join(proto_root, d, f))
    args = ["protoc", "-I" + os.path.join(proto_root, "tf"), "-I" + os.path.join(proto_root, "tfs"),
            "-I/usr/include", "--python_out=" + out, "--grpc_python_out=" + out] + files
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed")
    sys.path.insert(0, out)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def make_pki(d):
    """CA, server certificate for 127.0.0.1/localhost, client certificate."""
    def p(n):
        return os.path.join(d, n)
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=test ca"])
    for who, san in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                     ("client", "extendedKeyUsage=clientAuth")):
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", p(who + ".key"), "-out", p(who + ".csr"), "-subj", "/CN=" + who])
        ext = p(who + ".ext")
        with open(ext, "w") as f:
            f.write(san + "\n")
        run(["openssl", "x509", "-req", "-in", p(who + ".csr"), "-CA", p("ca.pem"), "-CAkey",
             p("ca.key"), "-CAcreateserial", "-out", p(who + ".pem"), "-days", "2", "-extfile", ext])
    return {k: open(p(k), "rb").read() for k in
            ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


def textproto_str(b):
    s = b.decode()
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_ssl_config(path, pki, client_verify=False):
    with open(path, "w") as f:
        f.write("server_key: %s\n" % textproto_str(pki["server.key"]))
        f.write("server_cert: %s\n" % textproto_str(pki["server.pem"]))
        f.write("custom_ca: %s\n" % textproto_str(pki["ca.pem"]))
        f.write("client_verify: %s\n" % ("true" if client_verify else "false"))


class Server:
    """A ccserve process on 127.0.0.1 with ports picked by the kernel."""

    def __init__(self, exe, args, timeout=60, env=None, rest=True):
        self.log = tempfile.NamedTemporaryFile(prefix="ccserve-", suffix=".log", delete=False)
        self.p = subprocess.Popen([exe, "--bind=127.0.0.1"] + args, stdout=self.log,
                                  stderr=subprocess.STDOUT, env=env)
        self.grpc_port = self.rest_port = None
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = open(self.log.name, errors="replace").read()
            m = re.search(r"Running gRPC ModelServer at [^:]+:(\d+)", text)
            if m:
                self.grpc_port = int(m.group(1))
            m = re.search(r"Exporting HTTP/REST API at [^:]+:(\d+)", text)
            if m:
                self.rest_port = int(m.group(1))
            if (rest and self.rest_port) or (not rest and self.grpc_port):
                break
            if self.p.poll() is not None:
                break
            time.sleep(0.05)

    def text(self):
        return open(self.log.name, errors="replace").read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        os.unlink(self.log.name)
        return self.p.returncode


# TFRecord framing (warmup files): CRC-32C, masked as TensorFlow does.
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(c):
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(records, corrupt=False):
    out = b""
    for r in records:
        n = struct.pack("<Q", len(r))
        dcrc = masked(crc32c(r)) ^ (1 if corrupt else 0)
        out += n + struct.pack("<I", masked(crc32c(n))) + r + struct.pack("<I", dcrc)
    return out
