# SPDX-License-Identifier: Apache-2.0
"""ccserve under hostile or heavy conditions, over TLS:
  - a model hot swap under load: a 30 s run of concurrent Predict calls while
    versions 1 -> 2 -> 3 appear (and 1, 2 are retired): no failed request;
  - the HTTP/2 concurrent-streams limit: the server advertises it, and 300
    concurrent calls on one connection all complete;
  - slowloris clients (headers dribbled byte by byte) do not block others and
    are disconnected;
  - requests over the size cap, malformed JSON, wrong content-type, a client
    disconnecting mid-request.

usage: test_robustness.py CCSERVE_EXE PROTO_ROOT"""
import concurrent.futures
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Server, check, free_port, gen_stubs, make_pki, summary, write_ssl_config  # noqa: E402

EXE, PROTO = sys.argv[1], sys.argv[2]
HP2 = os.path.join(os.environ.get("CCSERVE_SHARED_TESTDATA", ""), "tfserving",
                   "saved_model_half_plus_two_cpu", "00000123")
tmp = tempfile.mkdtemp(prefix="ccserve-robust-")
os.makedirs(os.path.join(tmp, "stubs"))
gen_stubs(PROTO, os.path.join(tmp, "stubs"))
import grpc  # noqa: E402
import predict_pb2  # noqa: E402
import prediction_service_pb2_grpc  # noqa: E402
import types_pb2  # noqa: E402

pki = make_pki(tmp)
ssl_cfg = os.path.join(tmp, "ssl.txt")
write_ssl_config(ssl_cfg, pki)
base = os.path.join(tmp, "m")
os.makedirs(base)


def add_version(v):
    # Copy under a hidden name, then rename: a version appears complete.
    d = os.path.join(base, ".tmp%d" % v)
    shutil.copytree(HP2, d)
    open(os.path.join(d, "ADD_VERSION"), "w").close()
    os.rename(d, os.path.join(base, str(v)))


add_version(1)
srv = Server(EXE, ["--port=%d" % free_port(), "--rest_api_port=%d" % free_port(), "--model_name=m",
                   "--model_base_path=" + base, "--ssl_config_file=" + ssl_cfg,
                   "--file_system_poll_wait_seconds=1", "--grpc_max_message_bytes=1048576"])
check("server starts", srv.grpc_port is not None, srv.text()[-1500:])
creds = grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"])


def req(vals):
    r = predict_pb2.PredictRequest()
    r.model_spec.name = "m"
    t = r.inputs["x"]
    t.dtype = types_pb2.DT_FLOAT
    t.tensor_shape.dim.add().size = len(vals)
    t.tensor_shape.dim.add().size = 1
    t.float_val.extend(vals)
    return r


# --- hot swap under load -------------------------------------------------------
stop = threading.Event()
stats = {"ok": 0, "fail": 0, "versions": set(), "errors": []}
lock = threading.Lock()


def worker():
    ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port, creds)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
    while not stop.is_set():
        try:
            r = stub.Predict(req([1.0, 2.0]), timeout=20)
            with lock:
                stats["ok"] += 1
                stats["versions"].add(r.model_spec.version.value)
        except grpc.RpcError as e:
            with lock:
                stats["fail"] += 1
                if len(stats["errors"]) < 3:
                    stats["errors"].append((e.code(), e.details()))
    ch.close()


threads = [threading.Thread(target=worker) for _ in range(6)]
for t in threads:
    t.start()
t0 = time.time()
time.sleep(8)
add_version(2)
time.sleep(8)
add_version(3)
while time.time() - t0 < 30:
    time.sleep(0.5)
stop.set()
for t in threads:
    t.join()
check("hot swap under load (30 s, versions 1 -> 2 -> 3): no failed request",
      stats["fail"] == 0 and stats["ok"] > 100, (stats["ok"], stats["fail"], stats["errors"]))
check("hot swap: requests were served by every version", stats["versions"] == {1, 2, 3}, stats["versions"])
text = srv.text()
check("hot swap: old versions unloaded after the new one loaded",
      text.find('version 2 loaded') < text.find('version 1 unloading') and
      text.find('version 3 loaded') < text.find('version 2 unloading'), text[-1500:])

# --- concurrent streams ------------------------------------------------------------
p = subprocess.run(["nghttp", "-nv", "-y",
                    "https://127.0.0.1:%d/" % srv.grpc_port], capture_output=True, text=True, timeout=30)
check("server advertises SETTINGS_MAX_CONCURRENT_STREAMS",
      "SETTINGS_MAX_CONCURRENT_STREAMS" in p.stdout, p.stdout[-600:])
ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port, creds)
stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
futs = [stub.Predict.future(req([float(i)]), timeout=60) for i in range(300)]
okn = 0
for i, f in enumerate(futs):
    try:
        r = f.result()
        okn += 1
    except grpc.RpcError:
        pass
check("300 concurrent calls on one connection all complete", okn == 300, okn)

# --- slowloris -----------------------------------------------------------------------
ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.pem"))
slow = []
for _ in range(20):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.rest_port)), server_hostname="127.0.0.1")
    s.sendall(b"GET /v1/models/m HTTP/1.1\r\nHo")
    slow.append(s)
t1 = time.time()
r = stub.Predict(req([3.0]), timeout=10)
check("slowloris clients do not block others", time.time() - t1 < 5)
closed = 0
deadline = time.time() + 25
for s in slow:
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        while True:
            s.sendall(b"s")
            time.sleep(0.5)
            if time.time() > deadline:
                break
    except (OSError, socket.timeout):
        closed += 1
    s.close()
check("slowloris connections are closed by the server", closed == len(slow), closed)


# --- size cap, malformed input, content-type, disconnects -------------------------------
def curl(path, data=None, extra=()):
    cmd = ["curl", "-sS", "--cacert", os.path.join(tmp, "ca.pem"), "-w", "\n%{http_code}",
           "https://127.0.0.1:%d%s" % (srv.rest_port, path)] + list(extra)
    if data is not None:
        cmd += ["--data-binary", "@-"]
    out = subprocess.run(cmd, input=data, capture_output=True, timeout=60).stdout.decode()
    body, _, code = out.rpartition("\n")
    return int(code or 0), body


big = b'{"instances": [' + b"1.0, " * 400000 + b'1.0]}'
code, body = curl("/v1/models/m:predict", big)
check("REST body over the cap -> 413", code == 413, (code, body[:200]))
big_req = req([1.0] * 400000)
try:
    stub.Predict(big_req, timeout=30)
    err = None
except grpc.RpcError as e:
    err = (e.code(), e.details())
check("gRPC message over the cap -> RESOURCE_EXHAUSTED",
      err is not None and err[0] == grpc.StatusCode.RESOURCE_EXHAUSTED, err)
for body in (b"{", b"\xff\xfe", b'{"instances": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['
             b'[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]'):
    code, out = curl("/v1/models/m:predict", body)
    check("malformed JSON %r -> 400" % body[:12], code == 400 and "error" in out, (code, out[:200]))
code, out = curl("/tensorflow.serving.PredictionService/Predict", b"\0\0\0\0\0",
                 extra=["--http2", "-H", "content-type: text/plain"])
check("gRPC path with a wrong content-type -> 415", code == 415, (code, out))
for _ in range(20):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.rest_port)), server_hostname="127.0.0.1")
    s.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"inst")
    s.close()
r = stub.Predict(req([5.0]), timeout=10)
check("clients leaving mid-request leave the server serving", len(r.outputs["y"].tensor_content) == 4)
ch.close()
check("SIGTERM with load done: exit 0", srv.stop() == 0)
shutil.rmtree(tmp, ignore_errors=True)
sys.exit(summary())
