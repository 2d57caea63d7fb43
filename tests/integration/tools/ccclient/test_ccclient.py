#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ccclient against real servers on 127.0.0.1.

1. A grpcio server (Python's gRPC, the reference implementation) speaking the
   TF Serving Predict/GetModelMetadata methods over TLS with a certificate for
   grpc.tf.service.com: checks the request ccclient sends (an --img decoded,
   cropped and resampled, compared with the numpy reference), the per-query
   lines, the summary, --json, --plot, --labels/--top, errors by status,
   name checking and trust.
2. ccserve (serve's transport-test build, half_plus_two engine), when given:
   mutual TLS, REST over TLS.

Usage: test_ccclient.py CCCLIENT [--ccserve CCSERVE]
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "unit", "tools", "ccclient"))
import ref  # noqa: E402  (numpy resampling reference, protobuf messages)

PASSED = FAILED = 0


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok   - " + name)
    else:
        FAILED += 1
        print("FAIL - " + name + (": " + str(detail)[:2000] if detail else ""))


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=120, **kw)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_pki(d, server_names):
    def p(n):
        return os.path.join(d, n)

    def sh(cmd):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=ccclient test ca"])
    san = ",".join("DNS:" + n for n in server_names) + ",IP:127.0.0.1"
    for who, ext in (("server", "subjectAltName=" + san),
                     ("client", "extendedKeyUsage=clientAuth")):
        sh(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", p(who + ".key"), "-out", p(who + ".csr"), "-subj",
            "/CN=" + (server_names[0] if who == "server" else "client")])
        with open(p(who + ".ext"), "w") as f:
            f.write(ext + "\n")
        sh(["openssl", "x509", "-req", "-in", p(who + ".csr"), "-CA", p("ca.pem"), "-CAkey",
            p("ca.key"), "-CAcreateserial", "-out", p(who + ".pem"), "-days", "2", "-extfile",
            p(who + ".ext")])
    return {k: p(k) for k in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


# --------------------------------------------------------------------------
# A TF Serving look-alike on grpcio.
class FakeTFS:
    NCLASSES = 1001
    TOP = 281

    def __init__(self, pki):
        import grpc
        from concurrent import futures
        self.M = ref.messages()
        self.requests = []
        self.metadata_calls = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details):
                if details.method == "/tensorflow.serving.PredictionService/Predict":
                    return grpc.unary_unary_rpc_method_handler(fake.predict)
                if details.method == "/tensorflow.serving.PredictionService/GetModelMetadata":
                    return grpc.unary_unary_rpc_method_handler(fake.metadata)
                return None

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                                  options=[("grpc.max_receive_message_length", 64 << 20)])
        self.server.add_generic_rpc_handlers((Handler(),))
        creds = grpc.ssl_server_credentials(
            [(open(pki["server.key"], "rb").read(), open(pki["server.pem"], "rb").read())])
        self.port = self.server.add_secure_port("127.0.0.1:0", creds)
        self.server.start()

    def stop(self):
        self.server.stop(0)

    def metadata(self, raw, ctx):
        import grpc
        with self.lock:
            self.metadata_calls += 1
        req = self.M["GetModelMetadataRequest"]()
        req.ParseFromString(raw)
        if req.model_spec.name != "resnet":
            ctx.abort(grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(%s)" %
                      req.model_spec.name)
        sdm = self.M["SignatureDefMap"]()
        sig = sdm.signature_def["serving_default"]
        ti = sig.inputs["input"]
        ti.dtype = 1
        for d in (-1, 224, 224, 3):
            ti.tensor_shape.dim.add().size = d
        sig.outputs["predict"].dtype = 1
        r = self.M["GetModelMetadataResponse"]()
        r.model_spec.name = "resnet"
        r.metadata["signature_def"].Pack(sdm)
        return r.SerializeToString()

    def predict(self, raw, ctx):
        import grpc
        req = self.M["PredictRequest"]()
        req.ParseFromString(raw)
        with self.lock:
            self.requests.append(req)
        if req.model_spec.name != "resnet":
            ctx.abort(grpc.StatusCode.NOT_FOUND, "Servable not found")
        t = req.inputs["input"]
        n = t.tensor_shape.dim[0].size
        scores = np.full((n, self.NCLASSES), 1e-4, dtype=np.float32)
        scores[:, self.TOP] = 0.9
        scores[:, 5] = 0.05
        r = self.M["PredictResponse"]()
        out = r.outputs["predict"]
        out.dtype = 1
        for d in (n, self.NCLASSES):
            out.tensor_shape.dim.add().size = d
        out.tensor_content = scores.tobytes()
        return r.SerializeToString()


QUERY = re.compile(r"^query: secure channel, task (\d+), batch (\d+), loop_idx (\d+), "
                   r"latency\(ms\) \d+\.\d, tps: \d+\.\d$")


def grpcio_tests(cl, d, pki):
    fake = FakeTFS(pki)
    url = "127.0.0.1:%d" % fake.port
    tls = ["--crt", pki["ca.pem"], "--servername", "grpc.tf.service.com"]

    # An image: a PNG written by the zlib-only encoder of the unit tests.
    png, rawp = os.path.join(d, "img.png"), os.path.join(d, "img.raw")
    ref.cmd_png(png, "320", "240", "rgb8", "11", rawp)
    labels = os.path.join(d, "labels.txt")
    with open(labels, "w") as f:
        for i in range(1000):
            f.write("class-%d \"quoted\"\n" % i)

    r = run([cl, "--url", url] + tls + ["--model", "resnet", "--img", png, "--loop", "3",
                                       "--warmup", "1", "--labels", labels, "--top", "3",
                                       "--mean", "123.68,116.78,103.94", "--std", "58.4,57.1,57.4"])
    check("image predict over TLS exits 0", r.returncode == 0, r.stderr)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("query:")]
    check("three per-query lines in the reference format",
          len(lines) == 3 and all(QUERY.match(ln) for ln in lines), r.stdout)
    check("loop_idx counts 0..2", [QUERY.match(ln).group(3) for ln in lines if QUERY.match(ln)]
          == ["0", "1", "2"], lines)
    check("summary line in the reference format",
          re.search(r"^summary: cnum 1, batch 1, e2e time\(s\) [\d.]+, average latency\(ms\) "
                    r"[\d.]+, tps: [\d.]+$", r.stdout, re.M), r.stdout)
    check("top-1 is class 281 with its label (background offset)",
          re.search(r"1\. class 281  score 0\.9  class-280 \"quoted\"", r.stdout), r.stdout)
    check("metadata asked once per connection", fake.metadata_calls == 1, fake.metadata_calls)
    check("warm-up + loop predicts reached the server", len(fake.requests) == 4, len(fake.requests))
    req = fake.requests[-1] if fake.requests else None
    if req is not None:
        t = req.inputs["input"]
        check("model spec: name and serving_default",
              req.model_spec.name == "resnet" and req.model_spec.signature_name == "serving_default"
              and not req.model_spec.HasField("version"), req.model_spec)
        check("input [1,224,224,3] DT_FLOAT from the metadata",
              t.dtype == 1 and [x.size for x in t.tensor_shape.dim] == [1, 224, 224, 3],
              t.tensor_shape)
        got = np.frombuffer(t.tensor_content, dtype="<f4").reshape(224, 224, 3)
        refout = os.path.join(d, "ref.f32")
        ref.cmd_resize(rawp, "320", "240", "224", "224", "bilinear", "0.875",
                       "123.68,116.78,103.94", "58.4,57.1,57.4", refout)
        want = np.fromfile(refout, dtype=np.float32).reshape(224, 224, 3)
        err = float(np.abs(got - want).max())
        check("pixels sent = numpy reference (decode, 0.875 crop, antialiased bilinear, mean/std)",
              err < 1e-4, err)

    # Batch, concurrency, streams; JSON and plot.
    fake.requests.clear()
    fake.metadata_calls = 0
    plot = os.path.join(d, "p.svg")
    r = run([cl, "--url", url] + tls + ["--model", "resnet", "--batch", "8", "--cnum", "4",
                                       "--streams", "2", "--loop", "10", "--warmup", "2",
                                       "--json", "--quiet", "--plot", plot, "--version", "3"])
    check("batch 8 x 4 clients x 2 streams exits 0", r.returncode == 0, r.stderr)
    try:
        j = json.loads(r.stdout)
    except ValueError as e:
        j = {}
        check("--json output parses", False, "%s: %r" % (e, r.stdout[:500]))
    check("--json counts 40 ok requests, no errors",
          j.get("requests") == {"sent": 40, "ok": 40, "failed": 0} and j.get("errors") == {}, j)
    check("--json reports warm-up and set-up apart",
          j.get("warmup_requests", {}).get("sent") == 8 and
          j.get("connection_setup", {}).get("connections") == 4, j)
    check("--json latency fields", all(k in j.get("latency_ms", {}) for k in
                                       ("mean", "p50", "p90", "p99", "max")), j)
    check("server saw 4 metadata + 48 predicts", fake.metadata_calls == 4 and
          len(fake.requests) == 48, (fake.metadata_calls, len(fake.requests)))
    check("random batch of 8 and version 3 sent", fake.requests and all([x.size for x in q.inputs["input"].tensor_shape.dim] == [8, 224, 224, 3] and
              q.model_spec.version.value == 3 for q in fake.requests), "")
    if fake.requests:
        v = np.frombuffer(fake.requests[0].inputs["input"].tensor_content, dtype="<f4")
        check("random input like the reference: integers in [0, 254]",
              v.min() >= 0 and v.max() <= 254 and np.all(v == np.round(v)) and v.std() > 50,
              (v.min(), v.max()))
    try:
        root = ET.parse(plot).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        hist = [g for g in root.iter(ns + "g") if g.get("class") == "histogram"]
        total = sum(int(x.find(ns + "title").text) for x in hist[0].findall(ns + "rect"))
        dots = [g for g in root.iter(ns + "g") if g.get("class") == "timeline"][0]
        check("--plot: well-formed SVG, histogram counts 40, 40 points",
              total == 40 and len(dots.findall(ns + "circle")) == 40, (total,))
    except Exception as e:  # noqa: BLE001
        check("--plot: well-formed SVG", False, e)

    # Errors by status: a model the server does not have.
    r = run([cl, "--url", url] + tls + ["--model", "missing", "--input", "input", "--size",
                                       "8x8", "--loop", "3", "--warmup", "0"])
    check("NOT_FOUND answers: exit 2, counted by status",
          r.returncode == 2 and "errors: NOT_FOUND: 3" in r.stdout, (r.returncode, r.stdout, r.stderr))
    r = run([cl, "--url", url] + tls + ["--model", "missing", "--loop", "1"])
    check("no --input and metadata NOT_FOUND: clear error, exit 1",
          r.returncode == 1 and "give the input name with --input" in r.stderr, r.stderr)

    # Trust and names.
    r = run([cl, "--url", url, "--crt", pki["ca.pem"], "--servername", "other.example",
             "--model", "resnet", "--loop", "1"])
    check("wrong --servername refused", r.returncode == 1 and "cannot connect" in r.stderr, r.stderr)
    r = run([cl, "--url", url, "--model", "resnet", "--loop", "1", "--timeout", "5"])
    check("unknown CA refused (system store only)", r.returncode == 1, r.stderr)
    r = run([cl, "--url", url, "--insecure", "--model", "resnet", "--loop", "1", "--timeout", "5"])
    check("plaintext to a TLS port fails", r.returncode == 1, r.stderr)
    fake.stop()
    r = run([cl, "--url", url] + tls + ["--model", "resnet", "--loop", "1", "--timeout", "5"])
    check("server gone: exit 1, cannot connect", r.returncode == 1 and "cannot connect" in r.stderr,
          r.stderr)


# --------------------------------------------------------------------------
def ccserve_tests(cl, srv, d, pki):
    mdir = os.path.join(d, "hp", "1")
    os.makedirs(mdir)
    open(os.path.join(mdir, "saved_model.pb"), "wb").close()

    def tp(path):
        s = open(path).read()
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    ssl = os.path.join(d, "ssl.cfg")
    with open(ssl, "w") as f:
        f.write("server_key: %s\nserver_cert: %s\ncustom_ca: %s\nclient_verify: true\n" %
                (tp(pki["server.key"]), tp(pki["server.pem"]), tp(pki["ca.pem"])))
    gport, rport = free_port(), free_port()
    log = open(os.path.join(d, "ccserve.log"), "w")
    p = subprocess.Popen([srv, "--bind=127.0.0.1", "--port=%d" % gport, "--rest_api_port=%d" % rport,
                          "--model_name=hp", "--model_base_path=" + os.path.dirname(mdir),
                          "--ssl_config_file=" + ssl], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            if "Exporting HTTP/REST API" in open(log.name).read() or p.poll() is not None:
                break
            time.sleep(0.05)
        check("ccserve started", p.poll() is None, open(log.name).read())
        base = ["--crt", pki["ca.pem"], "--servername", "grpc.tf.service.com", "--model", "hp"]
        mtls = ["--key", pki["client.key"], "--cert", pki["client.pem"]]
        r = run([cl, "--url", "127.0.0.1:%d" % gport] + base + ["--loop", "2", "--timeout", "5"])
        check("ccserve with client_verify refuses a client without a certificate",
              r.returncode != 0, r.stdout + r.stderr)
        r = run([cl, "--url", "127.0.0.1:%d" % gport] + base + mtls +
                ["--loop", "20", "--cnum", "2", "--batch", "4", "--json", "--quiet", "--top", "1"])
        j = json.loads(r.stdout) if r.returncode == 0 else {}
        check("mutual TLS gRPC against ccserve: 40 ok", j.get("requests", {}).get("ok") == 40,
              r.stdout + r.stderr)
        check("input learnt from ccserve's metadata (x, [batch, 1])",
              j.get("top", {}).get("output") == "y", j)
        r = run([cl, "--url", "127.0.0.1:%d" % rport, "--rest"] + base + mtls +
                ["--loop", "10", "--quiet"])
        check("mutual TLS REST against ccserve: exit 0",
              r.returncode == 0 and "10 ok, 0 failed" in r.stdout, r.stdout + r.stderr)
    finally:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def main():
    cl = sys.argv[1]
    srv = sys.argv[sys.argv.index("--ccserve") + 1] if "--ccserve" in sys.argv else None
    with tempfile.TemporaryDirectory(prefix="ccclient-it-") as d:
        pki = make_pki(d, ["grpc.tf.service.com", "localhost"])
        r = run([cl, "--help"])
        check("--help exits 0 and lists --servername", r.returncode == 0 and "--servername" in r.stdout)
        r = run([cl, "--batch", "0"])
        check("bad flag: exit 1 naming the flag", r.returncode == 1 and "--batch" in r.stderr)
        grpcio_tests(cl, d, pki)
        if srv:
            ccserve_tests(cl, srv, d, pki)
        else:
            print("skip - ccserve tests: no ccserve build given")
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
