# SPDX-License-Identifier: Apache-2.0
"""ccserve transport and API semantics against real clients (Python grpcio
with stubs generated from proto/, curl), over TLS, with the test-double
engine: y = 0.5 x + 2 (+ version when the version holds ADD_VERSION).

usage: test_transport.py CCSERVE_EXE PROTO_ROOT"""
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Server, check, free_port, gen_stubs, make_pki, summary,  # noqa: E402
                    tfrecord, write_ssl_config)

EXE, PROTO, CCVOL = sys.argv[1], sys.argv[2], sys.argv[3]
tmp = tempfile.mkdtemp(prefix="ccserve-it-")
gen_stubs(PROTO, os.path.join(tmp, "stubs")) if os.makedirs(os.path.join(tmp, "stubs")) is None else None

import grpc  # noqa: E402
import classification_pb2  # noqa: E402
import get_model_metadata_pb2  # noqa: E402
import get_model_status_pb2  # noqa: E402
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
import model_management_pb2  # noqa: E402
import model_server_config_pb2  # noqa: E402
import model_service_pb2_grpc  # noqa: E402
import predict_pb2  # noqa: E402
import prediction_service_pb2_grpc  # noqa: E402
import tensor_pb2  # noqa: E402
import types_pb2  # noqa: E402
from google.protobuf import text_format  # noqa: E402

pki = make_pki(tmp)
ssl_cfg = os.path.join(tmp, "ssl.txt")
write_ssl_config(ssl_cfg, pki)
base = os.path.join(tmp, "models", "m")


def add_version(v, broken=False, add=True):
    d = os.path.join(base, str(v))
    os.makedirs(d)
    open(os.path.join(d, "saved_model.pb"), "wb").write(b"\0")
    if add:
        open(os.path.join(d, "ADD_VERSION"), "w").close()
    if broken:
        open(os.path.join(d, "BROKEN"), "w").close()


add_version(1, add=False)
cfg = os.path.join(tmp, "models.txt")
with open(cfg, "w") as f:
    f.write('model_config_list { config { name: "m" base_path: "%s" model_platform: "tensorflow" '
            'model_version_policy { all {} } } }\n' % base)
mon = os.path.join(tmp, "mon.txt")
with open(mon, "w") as f:
    f.write('prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }\n')

srv = Server(EXE, ["--port=%d" % free_port(), "--rest_api_port=%d" % free_port(), "--model_config_file=" + cfg,
                   "--ssl_config_file=" + ssl_cfg, "--monitoring_config_file=" + mon,
                   "--file_system_poll_wait_seconds=1", "--grpc_max_message_bytes=4194304"])
check("server starts with TLS", srv.grpc_port and srv.rest_port, srv.text()[-2000:])
if not srv.grpc_port:
    print(srv.text())
    sys.exit(summary())

creds = grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"])
ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port, creds)
pred = prediction_service_pb2_grpc.PredictionServiceStub(ch)
models = model_service_pb2_grpc.ModelServiceStub(ch)


def tensor(vals, shape, content=True):
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    for s in shape:
        t.tensor_shape.dim.add().size = s
    if content:
        t.tensor_content = struct.pack("<%df" % len(vals), *vals)
    else:
        t.float_val.extend(vals)
    return t


def floats(t):
    if t.tensor_content:
        return list(struct.unpack("<%df" % (len(t.tensor_content) // 4), t.tensor_content))
    return list(t.float_val)


def predict_req(vals, shape=None, name="m", content=True, key="x", **spec):
    r = predict_pb2.PredictRequest()
    r.model_spec.name = name
    for k, v in spec.items():
        if k == "version":
            r.model_spec.version.value = v
        else:
            setattr(r.model_spec, k, v)
    r.inputs[key].CopyFrom(tensor(vals, shape or [len(vals), 1], content))
    return r


def rpc_error(fn, req, **kw):
    try:
        fn(req, timeout=10, **kw)
        return None
    except grpc.RpcError as e:
        return e


# --- Predict ---------------------------------------------------------------
r = pred.Predict(predict_req([1.0, 2.0, 5.0]), timeout=10)
check("Predict y = 0.5x + 2 (tensor_content)", floats(r.outputs["y"]) == [2.5, 3.0, 4.5],
      floats(r.outputs["y"]))
check("Predict output shape", [d.size for d in r.outputs["y"].tensor_shape.dim] == [3, 1])
check("Predict echoes model spec", r.model_spec.name == "m" and r.model_spec.version.value == 1
      and r.model_spec.signature_name == "serving_default", r.model_spec)
r = pred.Predict(predict_req([4.0], shape=[3, 1], content=False), timeout=10)
check("float_val fill-with-last rule", floats(r.outputs["y"]) == [4.0, 4.0, 4.0])
r = pred.Predict(predict_req([1.0], version=1, signature_name="serving_default"), timeout=10)
check("Predict with explicit version and signature", floats(r.outputs["y"]) == [2.5])
rq = predict_req([1.0])
rq.output_filter.append("y")
check("output_filter", list(pred.Predict(rq, timeout=10).outputs.keys()) == ["y"])
r = pred.Predict(predict_req([1.0, 2.0]), timeout=10, compression=grpc.Compression.Gzip)
check("gzip-compressed request", floats(r.outputs["y"]) == [2.5, 3.0])

# --- Errors ----------------------------------------------------------------
e = rpc_error(pred.Predict, predict_req([1.0], name="nope"))
check("unknown model -> NOT_FOUND", e and e.code() == grpc.StatusCode.NOT_FOUND and
      "Servable not found for request: Latest(nope)" in e.details(), e and e.details())
e = rpc_error(pred.Predict, predict_req([1.0], version=99))
check("unknown version -> NOT_FOUND", e and e.code() == grpc.StatusCode.NOT_FOUND and
      "Specific(m, 99)" in e.details(), e and e.details())
e = rpc_error(pred.Predict, predict_req([1.0], signature_name="nosig"))
check("unknown signature -> FAILED_PRECONDITION", e and e.code() == grpc.StatusCode.FAILED_PRECONDITION
      and "nosig" in e.details(), e and e.details())
e = rpc_error(pred.Predict, predict_req([1.0], key="z"))
check("wrong input name -> INVALID_ARGUMENT", e and e.code() == grpc.StatusCode.INVALID_ARGUMENT
      and "Sent extra: {z}" in e.details(), e and e.details())
bad = predict_req([1.0])
bad.inputs["x"].dtype = types_pb2.DT_INT32
bad.inputs["x"].tensor_content = b"\0\0\0\0"
e = rpc_error(pred.Predict, bad)
check("wrong dtype -> INVALID_ARGUMENT", e and e.code() == grpc.StatusCode.INVALID_ARGUMENT, e and e.details())
bad = predict_req([1.0, 2.0], shape=[3, 1])
e = rpc_error(pred.Predict, bad)
check("tensor_content size mismatch -> INVALID_ARGUMENT",
      e and e.code() == grpc.StatusCode.INVALID_ARGUMENT and "tensor_content" in e.details(),
      e and e.details())
bad = predict_req([1.0])
bad.output_filter.append("nope")
e = rpc_error(pred.Predict, bad)
check("unknown output_filter -> INVALID_ARGUMENT", e and e.code() == grpc.StatusCode.INVALID_ARGUMENT
      and "output tensor alias not found" in e.details(), e and e.details())
e = rpc_error(pred.Predict, predict_pb2.PredictRequest())
check("missing model spec -> INVALID_ARGUMENT", e and e.code() == grpc.StatusCode.INVALID_ARGUMENT)
raw = ch.unary_unary("/tensorflow.serving.PredictionService/Predict",
                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
e = rpc_error(raw, b"\x0a\xff\xff\xff\xff\x0f garbage")
check("malformed protobuf -> INVALID_ARGUMENT", e and e.code() == grpc.StatusCode.INVALID_ARGUMENT,
      e and e.details())
e = rpc_error(raw, predict_req([1.0] * (1 << 20)).SerializeToString())
check("message over --grpc_max_message_bytes -> RESOURCE_EXHAUSTED",
      e and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e and (e.code(), e.details()))
e = rpc_error(ch.unary_unary("/tensorflow.serving.PredictionService/Nope",
                             request_serializer=lambda b: b, response_deserializer=lambda b: b), b"")
check("unknown method -> UNIMPLEMENTED", e and e.code() == grpc.StatusCode.UNIMPLEMENTED)
cr = classification_pb2.ClassificationRequest()
cr.model_spec.name = "m"
cr.model_spec.signature_name = "classify_x_to_y"
e = rpc_error(pred.Classify, cr)
check("Classify on a tf.Example signature -> UNIMPLEMENTED", e and e.code() == grpc.StatusCode.UNIMPLEMENTED,
      e and e.details())
cr.model_spec.signature_name = "serving_default"
e = rpc_error(pred.Classify, cr)
check("Classify on a predict signature -> INVALID_ARGUMENT", e and e.code() == grpc.StatusCode.INVALID_ARGUMENT)

# --- Metadata, status, health ----------------------------------------------
mr = get_model_metadata_pb2.GetModelMetadataRequest()
mr.model_spec.name = "m"
mr.metadata_field.append("signature_def")
md = pred.GetModelMetadata(mr, timeout=10)
sdm = get_model_metadata_pb2.SignatureDefMap()
ok = md.metadata["signature_def"].Unpack(sdm)
sd = sdm.signature_def["serving_default"]
check("GetModelMetadata SignatureDefMap", ok and sd.method_name == "tensorflow/serving/predict"
      and sd.inputs["x"].name == "x:0" and sd.inputs["x"].dtype == types_pb2.DT_FLOAT
      and [d.size for d in sd.inputs["x"].tensor_shape.dim] == [-1, 1]
      and sdm.signature_def["classify_x_to_y"].inputs["inputs"].tensor_shape.unknown_rank,
      sdm)
check("GetModelMetadata type_url",
      md.metadata["signature_def"].type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap")
mr.metadata_field[0] = "other"
e = rpc_error(pred.GetModelMetadata, mr)
check("unsupported metadata_field -> INVALID_ARGUMENT", e and e.code() == grpc.StatusCode.INVALID_ARGUMENT)
sr = get_model_status_pb2.GetModelStatusRequest()
sr.model_spec.name = "m"
st = models.GetModelStatus(sr, timeout=10)
check("GetModelStatus AVAILABLE", len(st.model_version_status) == 1 and
      st.model_version_status[0].version == 1 and
      st.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE, st)
sr.model_spec.name = "nope"
e = rpc_error(models.GetModelStatus, sr)
check("GetModelStatus unknown model -> NOT_FOUND", e and e.code() == grpc.StatusCode.NOT_FOUND)
h = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
check("health Check SERVING", h.status == health_pb2.HealthCheckResponse.SERVING)

# --- Hot swap, failed version ----------------------------------------------
add_version(2)
ok = False
for _ in range(100):
    r = pred.Predict(predict_req([1.0]), timeout=10)
    if floats(r.outputs["y"]) == [4.5]:
        ok = r.model_spec.version.value == 2
        break
    time.sleep(0.1)
check("new version picked up by polling", ok)
r = pred.Predict(predict_req([1.0], version=1), timeout=10)
check("policy all keeps version 1", floats(r.outputs["y"]) == [2.5])
add_version(3, broken=True)
ok = False
for _ in range(100):
    sr.model_spec.name = "m"
    st = models.GetModelStatus(sr, timeout=10)
    v3 = [s for s in st.model_version_status if s.version == 3]
    if v3 and v3[0].state == get_model_status_pb2.ModelVersionStatus.END:
        ok = v3[0].status.error_code != 0 and "BROKEN" in v3[0].status.error_message
        break
    time.sleep(0.1)
check("failed version reported with its error", ok, st)
r = pred.Predict(predict_req([1.0]), timeout=10)
check("failed version does not disturb the served one", r.model_spec.version.value == 2)

# --- HandleReloadConfigRequest -----------------------------------------------
rr = model_management_pb2.ReloadConfigRequest()
text_format.Parse('model_config_list { config { name: "m" base_path: "%s" '
                  'model_version_policy { specific { versions: 1 versions: 2 } } '
                  'version_labels { key: "stable" value: 1 } } }' % base, rr.config)
resp = models.HandleReloadConfigRequest(rr, timeout=30)
check("HandleReloadConfigRequest OK", resp.status.error_code == 0, resp)
r = pred.Predict(predict_req([1.0], version_label="stable"), timeout=10)
check("version_label after reload", r.model_spec.version.value == 1 and floats(r.outputs["y"]) == [2.5])
e = rpc_error(pred.Predict, predict_req([1.0], version_label="nolabel"))
check("unknown label -> INVALID_ARGUMENT", e and e.code() == grpc.StatusCode.INVALID_ARGUMENT)


# --- REST with curl ------------------------------------------------------------
def curl(path, data=None, method=None, extra=()):
    cmd = ["curl", "-sS", "--cacert", os.path.join(tmp, "ca.pem"), "-w", "\n%{http_code}",
           "https://127.0.0.1:%d%s" % (srv.rest_port, path)] + list(extra)
    if data is not None:
        cmd += ["-d", data]
    if method:
        cmd += ["-X", method]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30).stdout.decode()
    body, _, code = out.rpartition("\n")
    return int(code or 0), body


code, body = curl("/v1/models/m:predict", '{"instances": [1.0, 2.0, 5.0]}')
check("REST row predict (latest = version 2: y = 0.5x + 4)",
      code == 200 and json.loads(body) == {"predictions": [4.5, 5.0, 6.5]}, (code, body))
code, body = curl("/v1/models/m/versions/1:predict", '{"inputs": {"x": [[1.0], [2.0]]}}')
check("REST columnar predict on a version", code == 200 and json.loads(body) == {"outputs": [[2.5], [3.0]]},
      (code, body))
code, body = curl("/v1/models/m/labels/stable:predict",
                  '{"signature_name": "serving_default", "instances": [{"x": [3.0]}]}')
check("REST label predict, named row", code == 200 and json.loads(body) == {"predictions": [[3.5]]},
      (code, body))
code, body = curl("/v1/models/m")
j = json.loads(body) if code == 200 else {}
check("REST model status", code == 200 and {s["version"] for s in j["model_version_status"]} >= {"1", "2"}
      and all("state" in s and "status" in s for s in j["model_version_status"]), (code, body))
code, body = curl("/v1/models/m/versions/1/metadata")
j = json.loads(body) if code == 200 else {}
check("REST metadata", code == 200 and j["model_spec"]["version"] == "1" and
      j["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["x"]["name"] == "x:0",
      (code, body))
for path, data, want in (("/v1/models/nope:predict", '{"instances": [1.0]}', 404),
                         ("/v1/models/m:predict", '{"instances": [1.0', 400),
                         ("/v1/models/m:predict", '{"instances": ["a"]}', 400),
                         ("/v1/models/m:predict", '{"nothing": 1}', 400),
                         ("/v1/models/m:predict", '{"signature_name": "zz", "instances": [1.0]}', 400),
                         ("/v1/models/m:bogus", '{}', 400),
                         ("/v2/whatever", None, 400)):
    code, body = curl(path, data)
    ok = code == want
    try:
        ok = ok and "error" in json.loads(body)
    except ValueError:
        ok = False
    check("REST error %d for %s %s" % (want, path, (data or "")[:20]), ok, (code, body))
code, body = curl("/v1/models/m:predict", '{"instances": [1.0]}',
                  extra=["-H", "Content-Type: text/plain"])
check("REST accepts any content-type like TF Serving", code == 200, (code, body))
code, body = curl("/monitoring/prometheus/metrics")
check("Prometheus metrics", code == 200 and ':tensorflow:serving:request_count{model_name="m",status="OK"}' in body
      and ":tensorflow:serving:request_latency_bucket" in body and "process_resident_memory_bytes" in body,
      body[:500])

# --- Protocol robustness ---------------------------------------------------------
ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.pem"))
ctx.set_alpn_protocols(["h2"])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.grpc_port)), server_hostname="127.0.0.1")
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x04\x09\x00\x00\x00\x00\x00garbage-frames")
s.settimeout(10)
try:
    got = s.recv(4096)
    while got:
        more = s.recv(4096)
        if not more:
            break
        got += more
    closed = True
except (socket.timeout, OSError):
    closed = False
s.close()
check("HTTP/2 protocol error closes the connection", closed)
r = pred.Predict(predict_req([1.0]), timeout=10)
check("server still serves after protocol errors", len(floats(r.outputs["y"])) == 1)

# client disconnect mid-request: half a body, then close
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.rest_port)), server_hostname="127.0.0.1")
s.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"inst")
s.close()
r = pred.Predict(predict_req([1.0]), timeout=10)
check("server survives a client leaving mid-request", len(floats(r.outputs["y"])) == 1)

ch.close()
rc = srv.stop(signal.SIGTERM)
check("SIGTERM -> exit 0", rc == 0, rc)

# --- Warmup, batching, SIGHUP ----------------------------------------------------------
import prediction_log_pb2  # noqa: E402
wbase = os.path.join(tmp, "warm")
for v, corrupt in ((1, False), (2, True)):
    d = os.path.join(wbase, str(v), "assets.extra")
    os.makedirs(d)
    open(os.path.join(wbase, str(v), "saved_model.pb"), "wb").write(b"\0")
    pl = prediction_log_pb2.PredictionLog()
    pl.predict_log.request.CopyFrom(predict_req([1.0, 2.0], name="w"))
    open(os.path.join(d, "tf_serving_warmup_requests"), "wb").write(
        tfrecord([pl.SerializeToString()] * 3, corrupt))
os.rename(os.path.join(wbase, "2"), os.path.join(tmp, "warm2-later"))
bp = os.path.join(tmp, "batch.txt")
open(bp, "w").write("max_batch_size { value: 8 } batch_timeout_micros { value: 5000 } "
                    "max_enqueued_batches { value: 16 } num_batch_threads { value: 1 }\n")
wcfg = os.path.join(tmp, "wmodels.txt")
open(wcfg, "w").write('model_config_list { config { name: "w" base_path: "%s" } }\n' % wbase)
srv = Server(EXE, ["--port=%d" % free_port(), "--rest_api_port=%d" % free_port(), "--model_config_file=" + wcfg,
                   "--ssl_config_file=" + ssl_cfg, "--monitoring_config_file=" + mon,
                   "--batching_parameters_file=" + bp, "--file_system_poll_wait_seconds=1"])
check("warmup file replayed at load", "3 warmup requests replayed" in srv.text(), srv.text()[-800:])
ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port, creds)
wstub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
futs = [wstub.Predict.future(predict_req([float(i)], name="w"), timeout=30) for i in range(16)]
vals = [floats(f.result().outputs["y"]) for f in futs]
check("batched requests get their own rows back", vals == [[i * 0.5 + 2.0] for i in range(16)], vals)
out = subprocess.run(["curl", "-sS", "--cacert", os.path.join(tmp, "ca.pem"),
                      "https://127.0.0.1:%d/monitoring/prometheus/metrics" % srv.rest_port],
                     capture_output=True, timeout=30).stdout.decode()
check("batch sizes and queueing latency exported",
      ":tensorflow:serving:batching_session:processed_batch_size_count" in out and
      ":tensorflow:serving:batching_session:queuing_latency_bucket" in out and
      ":tensorflow:serving:model_warmup_latency_count" in out, out[:800])
os.rename(os.path.join(tmp, "warm2-later"), os.path.join(wbase, "2"))
ok = False
for _ in range(100):
    mch = model_service_pb2_grpc.ModelServiceStub(ch)
    st = mch.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "w"}), timeout=10)
    v2 = [s for s in st.model_version_status if s.version == 2]
    if v2 and v2[0].state == get_model_status_pb2.ModelVersionStatus.END:
        ok = "CRC" in v2[0].status.error_message
        break
    time.sleep(0.1)
check("corrupt warmup file fails the version's load (CRC)", ok, st)
r = wstub.Predict(predict_req([1.0], name="w"), timeout=10)
check("version 1 still served", r.model_spec.version.value == 1)
open(wcfg, "w").write('model_config_list { config { name: "w" base_path: "%s" } '
                      'config { name: "m2" base_path: "%s" model_version_policy { all {} } } }\n'
                      % (wbase, base))
srv.p.send_signal(signal.SIGHUP)
ok = False
for _ in range(100):
    try:
        r = wstub.Predict(predict_req([1.0], name="m2", version=1), timeout=10)
        ok = True
        break
    except grpc.RpcError:
        time.sleep(0.1)
check("SIGHUP reloads --model_config_file", ok)
ch.close()
srv.stop()

# --- Deadlines and cancellation (one worker, a 300 ms engine) ----------------------
slowbase = os.path.join(tmp, "slow")
os.makedirs(os.path.join(slowbase, "1"))
for f in ("saved_model.pb", "SLOW"):
    open(os.path.join(slowbase, "1", f), "wb").write(b"\0")
srv = Server(EXE, ["--port=%d" % free_port(), "--rest_api_port=%d" % free_port(), "--model_name=s",
                   "--model_base_path=" + slowbase, "--ssl_config_file=" + ssl_cfg,
                   "--monitoring_config_file=" + mon, "--grpc_max_threads=1", "--log_level=debug"])
ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port, creds)
sstub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
busy = [sstub.Predict.future(predict_req([1.0], name="s"), timeout=30) for _ in range(2)]
time.sleep(0.05)
late = sstub.Predict.future(predict_req([1.0], name="s"), timeout=0.1)
gone = sstub.Predict.future(predict_req([1.0], name="s"), timeout=30)
time.sleep(0.05)
gone.cancel()
try:
    late.result()
    late_code = None
except grpc.RpcError as e:
    late_code = e.code()
check("grpc-timeout passed -> DEADLINE_EXCEEDED", late_code == grpc.StatusCode.DEADLINE_EXCEEDED, late_code)
check("calls before it complete", all(len(f.result().outputs["y"].tensor_content) == 4 for f in busy))
time.sleep(0.8)
code, body = 0, ""
out = subprocess.run(["curl", "-sS", "--cacert", os.path.join(tmp, "ca.pem"),
                      "https://127.0.0.1:%d/monitoring/prometheus/metrics" % srv.rest_port],
                     capture_output=True, timeout=30).stdout.decode()
# grpcio resets the stream when its deadline passes, so both the expired and
# the cancelled call reach a worker as cancelled and are dropped undecoded.
check("expired and cancelled calls dropped without running",
      ':tensorflow:serving:request_count{model_name="",status="CANCELLED"} 2' in out, out[:600])
check("only the two live calls ran", ':tensorflow:serving:request_count{model_name="s",status="OK"} 2' in out,
      out[:600])
inflight = sstub.Predict.future(predict_req([1.0], name="s"), timeout=30)
time.sleep(0.1)
srv.p.send_signal(signal.SIGTERM)
try:
    ok = len(inflight.result().outputs["y"].tensor_content) == 4
except grpc.RpcError as e:
    ok = (e.code(), e.details())
check("SIGTERM: the in-flight request completes", ok is True, ok)
check("SIGTERM: exit 0 after draining", srv.p.wait(30) == 0)
ch.close()
srv_slow_log = srv.text()
srv.stop()

shutil.rmtree(os.path.join(base, "3"))
# --- Lone cheap requests run on the I/O thread (debug log says "(inline)") ---------------
# Sequential calls of a measured-cheap model run inline; the first two of
# each (model, API) are measured on a worker; --inline_max_us=0 never
# inlines; the slow model above never did (300 ms is far over the limit).
check("a 300 ms model never runs inline", srv_slow_log.count("(inline)") == 0,
      [l for l in srv_slow_log.splitlines() if "(inline)" in l][:3])
answers = {}
# A generous limit (5 ms) keeps this independent of the build's speed (ASan).
for flag in (["--inline_max_us=5000"], ["--inline_max_us=0"]):
    srv = Server(EXE, ["--port=%d" % free_port(), "--rest_api_port=%d" % free_port(), "--model_name=m",
                       "--model_base_path=" + base, "--ssl_config_file=" + ssl_cfg, "--log_level=debug"] + flag)
    check("server starts " + " ".join(flag), srv.grpc_port and srv.rest_port, srv.text()[-1500:])
    ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port, creds)
    st = prediction_service_pb2_grpc.PredictionServiceStub(ch)
    got = [floats(st.Predict(predict_req([float(i)]), timeout=10).outputs["y"]) for i in range(6)]
    got += [curl("/v1/models/m:predict", '{"instances": [%d.0]}' % i)[1] for i in range(4)]
    e = rpc_error(st.Predict, predict_req([1.0], name="nosuch"))
    got.append(e and e.code())
    # 16 at once: run on the workers, answers unchanged.
    futs = [st.Predict.future(predict_req([float(i)]), timeout=10) for i in range(16)]
    got += [floats(f.result().outputs["y"]) for f in futs]
    ch.close()
    text = srv.text()
    srv.stop()
    answers[flag == ["--inline_max_us=0"]] = got
    inl = [l for l in text.splitlines() if "(inline)" in l]
    if flag != ["--inline_max_us=0"]:
        check("sequential cheap gRPC Predicts run inline", sum("gRPC predict" in l for l in inl) >= 4, inl[:8])
        check("sequential cheap REST predicts run inline", sum("REST predict" in l for l in inl) >= 2, inl[:8])
        check("unknown model is never inline", not any("nosuch" in l for l in inl), inl[:8])
    else:
        check("--inline_max_us=0: nothing inline", not inl, inl[:3])
check("inline and worker runs answer the same", answers[False] == answers[True] and
      answers[False][0] != answers[False][1], answers)

# --- Mutual TLS --------------------------------------------------------------------
mtls = os.path.join(tmp, "mtls.txt")
write_ssl_config(mtls, pki, client_verify=True)
srv = Server(EXE, ["--port=%d" % free_port(), "--model_name=m", "--model_base_path=" + base,
                   "--ssl_config_file=" + mtls], rest=False)
check("mTLS server starts", srv.grpc_port, srv.text()[-1000:])
ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port, creds)
e = rpc_error(prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict, predict_req([1.0]))
check("mTLS refuses a client without certificate", e is not None and e.code() == grpc.StatusCode.UNAVAILABLE,
      e and e.code())
ch.close()
ccreds = grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"], private_key=pki["client.key"],
                                      certificate_chain=pki["client.pem"])
ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port, ccreds)
r = prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict(predict_req([2.0]), timeout=10)
check("mTLS accepts a client certificate", r.model_spec.name == "m")
ch.close()
srv.stop()

# --- Flags -----------------------------------------------------------------------------
p = subprocess.run([EXE, "--model_nme=x"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
check("unknown flag is an error naming it", p.returncode == 2 and b"--model_nme" in p.stderr, p.stderr)
p = subprocess.run([EXE, "--model_base_path=" + base], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
check("TLS required without --insecure", p.returncode == 2 and b"--ssl_config_file" in p.stderr, p.stderr)
p = subprocess.run([EXE, "--help"], stdout=subprocess.PIPE)
check("--help lists the TF Serving flags", p.returncode == 0 and b"--rest_api_timeout_in_ms" in p.stdout)
bad_ssl = os.path.join(tmp, "badssl.txt")
open(bad_ssl, "w").write("server_key: 'x'\nsrever_cert: 'y'\n")
p = subprocess.run([EXE, "--model_base_path=" + base, "--ssl_config_file=" + bad_ssl],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
check("bad ssl config names the field", p.returncode != 0 and b"srever_cert" in p.stderr, p.stderr)

# --- Confidential start: models, model config and TLS inside a volume --------------------
tree = os.path.join(tmp, "voltree")
os.makedirs(os.path.join(tree, "models", "m", "7"))
open(os.path.join(tree, "models", "m", "7", "saved_model.pb"), "wb").write(b"\0")
open(os.path.join(tree, "models", "m", "7", "ADD_VERSION"), "w").close()
shutil.copy(ssl_cfg, os.path.join(tree, "ssl.txt"))
with open(os.path.join(tree, "models.txt"), "w") as f:
    f.write('model_config_list { config { name: "vm" base_path: "vol:/models/m" } }\n')
keyf = os.path.join(tmp, "vol.key")
open(keyf, "wb").write(os.urandom(32))
img = os.path.join(tmp, "model.img")
p = subprocess.run([CCVOL, "create", "--from", tree, "--out", img, "--key-file", keyf, "--pbkdf", "pbkdf2",
                    "--pbkdf-force-iterations", "1000", "--no-progress"], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
check("ccvol create", p.returncode == 0, p.stderr)
shutil.rmtree(tree)
srv = Server(EXE, ["--port=%d" % free_port(), "--volume=" + img, "--volume_key_file=" + keyf,
                   "--model_config_file=vol:/models.txt", "--ssl_config_file=vol:/ssl.txt"], rest=False)
check("serves from the encrypted volume", srv.grpc_port is not None, srv.text()[-1500:])
if srv.grpc_port:
    ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port, creds)
    r = prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict(predict_req([1.0], name="vm"), timeout=10)
    check("volume model answers", r.model_spec.version.value == 7 and floats(r.outputs["y"]) == [9.5],
          floats(r.outputs["y"]))
    ch.close()
srv.stop()
bad = os.path.join(tmp, "bad.key")
open(bad, "wb").write(os.urandom(32))
p = subprocess.run([EXE, "--port=%d" % free_port(), "--volume=" + img, "--volume_key_file=" + bad,
                    "--model_config_file=vol:/models.txt", "--ssl_config_file=vol:/ssl.txt"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
check("wrong volume key: clear error", p.returncode != 0 and b"cannot unlock --volume" in p.stderr, p.stderr)
p = subprocess.run([EXE, "--volume=" + img, "--model_base_path=vol:/models/m"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
check("--volume without a key source is refused", p.returncode == 2 and b"--volume_key_file" in p.stderr,
      p.stderr)

shutil.rmtree(tmp, ignore_errors=True)
sys.exit(summary())
