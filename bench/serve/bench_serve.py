#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ccserve benchmark (all figures from one run, on this machine):

 (a) half_plus_two over gRPC + TLS at 1 and 64 concurrent streams: requests/s
     and p50/p99, against a minimal C++ gRPC server on Debian's libgrpc++
     (decodes the same PredictRequest, returns a fixed PredictResponse, same
     certificate), and the engine's in-process call at 1 stream.
 (b) ResNet-50 batch 1 through the server vs the engine alone (p50).
 (c) ResNet-50, 16 concurrent streams, batching on vs off.

ResNet-50 (random weights, TF SavedModel) comes from scripts/gen_resnet50.py
(python3-torch); without it (b) and (c) are skipped and say so.
--smoke: tiny durations, half_plus_two only, nothing judged."""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("CCSERVE_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "serve"))
from common import Server, free_port, gen_stubs, make_pki, write_ssl_config  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--ccserve", required=True)
ap.add_argument("--load", required=True)
ap.add_argument("--baseline")
ap.add_argument("--smoke", action="store_true")
ap.add_argument("--resnet", help="existing ResNet-50 model dir (with version 1/)")
ap.add_argument("--seconds", type=float, default=5.0)
args = ap.parse_args()

TD = os.path.join(os.environ.get("CCSERVE_SHARED_TESTDATA", os.path.join(ROOT, "..", "shared", "testdata")),
                  "tfserving")
HP2 = os.path.join(TD, "saved_model_half_plus_two_cpu")
secs = 0.5 if args.smoke else args.seconds
tmp = tempfile.mkdtemp(prefix="bench-serve-")
os.makedirs(os.path.join(tmp, "stubs"))
gen_stubs(os.path.join(ROOT, "proto"), os.path.join(tmp, "stubs"))
import predict_pb2  # noqa: E402
import types_pb2  # noqa: E402

pki = make_pki(tmp)
ssl_cfg = os.path.join(tmp, "ssl.txt")
write_ssl_config(ssl_cfg, pki)
ca = os.path.join(tmp, "ca.pem")


def request(model, inp, dims, fill):
    r = predict_pb2.PredictRequest()
    r.model_spec.name = model
    t = r.inputs[inp]
    t.dtype = types_pb2.DT_FLOAT
    n = 1
    for d in dims:
        t.tensor_shape.dim.add().size = d
        n *= d
    t.tensor_content = struct.pack("<%df" % n, *([fill] * n))
    path = os.path.join(tmp, model + ".msg")
    open(path, "wb").write(r.SerializeToString())
    return path


def load(port, msg, streams, seconds):
    p = subprocess.run([args.load, "load", "127.0.0.1:%d" % port, ca, msg, str(streams),
                        str(max(1, int(round(seconds))))],
                       capture_output=True, text=True, timeout=seconds + 120)
    if p.returncode != 0:
        print("  load failed: " + p.stderr.strip()[-300:])
        return None
    return json.loads(p.stdout)


def engine(model_dir, inp, rows, iters):
    # Same OpenMP policy as the server runs with, so the two compare.
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    p = subprocess.run([args.load, "engine", model_dir, inp, str(rows), str(iters)],
                       capture_output=True, text=True, timeout=600, env=env)
    if p.returncode != 0:
        print("  engine failed: " + p.stderr.strip()[-300:])
        return None
    return json.loads(p.stdout)


def fmt(r):
    if not r:
        return "n/a"
    return "%9.0f req/s  p50 %8.1f us  p99 %8.1f us" % (r["rps"], r["p50_us"], r["p99_us"])


def ccserve(model_dir, name, extra=()):
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    return Server(args.ccserve, ["--port=%d" % free_port(), "--model_name=" + name,
                                 "--model_base_path=" + model_dir, "--ssl_config_file=" + ssl_cfg,
                                 "--file_system_poll_wait_seconds=0"] + list(extra), env=env, rest=False)


results = {}
print("== (a) half_plus_two, gRPC + TLS, %s s per point" % secs)
hp2_msg = request("half_plus_two", "x", [1, 1], 1.0)
eng = engine(os.path.join(HP2, "00000123"), "x", 1, 200 if args.smoke else 20000)
print("  engine in-process call:            p50 %8.1f us  p99 %8.1f us" % (eng["p50_us"], eng["p99_us"])
      if eng else "  engine: n/a")
srv = ccserve(HP2, "half_plus_two")
if not srv.grpc_port:
    print(srv.text())
    sys.exit(1)
for streams in (1, 64):
    results[("ccserve", streams)] = load(srv.grpc_port, hp2_msg, streams, secs)
    print("  ccserve   %2d stream(s): %s" % (streams, fmt(results[("ccserve", streams)])))
srv.stop()
# The same server with every request handed to a worker thread (no inline
# run of lone cheap requests on the I/O thread): what the inline path saves.
srv = ccserve(HP2, "half_plus_two", ["--inline_max_us=0"])
if srv.grpc_port:
    r = load(srv.grpc_port, hp2_msg, 1, secs)
    print("  ccserve    1 stream(s), --inline_max_us=0 (always a worker): %s" % fmt(r))
srv.stop()
if args.baseline:
    port = free_port()
    bl = subprocess.Popen([args.baseline, str(port), os.path.join(tmp, "server.pem"),
                           os.path.join(tmp, "server.key"), "0"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL)
    bl.stdout.readline()
    for streams in (1, 64):
        results[("baseline", streams)] = load(port, hp2_msg, streams, secs)
        print("  baseline  %2d stream(s): %s" % (streams, fmt(results[("baseline", streams)])))
    bl.terminate()
    bl.wait()
    c64, b64 = results.get(("ccserve", 64)), results.get(("baseline", 64))
    if c64 and b64:
        print("  ratio ccserve/baseline requests/s at 64 streams: %.2fx (target >= 1.0x, >= 20000 req/s)"
              % (c64["rps"] / b64["rps"]))
    c1, b1 = results.get(("ccserve", 1)), results.get(("baseline", 1))
    if c1 and b1:
        print("  ratio ccserve/baseline p50 at 1 stream: %.2fx" % (c1["p50_us"] / b1["p50_us"]))
else:
    print("  baseline: not built (needs libgrpc++-dev, protobuf-compiler-grpc and a C++ compiler)")
if eng and results.get(("ccserve", 1)):
    print("  added p50 over the in-process engine call at 1 stream: %.1f us (target < 100 us; "
          "includes the client's own TLS/HTTP2 work)" % (results[("ccserve", 1)]["p50_us"] - eng["p50_us"]))

if args.smoke:
    shutil.rmtree(tmp, ignore_errors=True)
    print("smoke run: nothing judged")
    sys.exit(0)

resnet = args.resnet
if not resnet:
    gen = os.path.join(ROOT, "scripts", "gen_resnet50.py")
    out = os.path.join(tmp, "resnet")
    p = subprocess.run(["/usr/bin/python3", gen, out, "--no-onnx"], capture_output=True, text=True,
                       timeout=900)
    if p.returncode == 0:
        resnet = os.path.join(out, "tf")
    else:
        print("== (b), (c) skipped: cannot generate ResNet-50: " + p.stderr.strip()[-300:])
if resnet:
    rdir = os.path.join(resnet, "1")
    print("== (b) ResNet-50 batch 1: server vs engine alone")
    eng = engine(rdir, "input", -1, 20)
    msg = request("resnet", "input", [1, 224, 224, 3], 0.5)
    srv = ccserve(resnet, "resnet")
    r1 = load(srv.grpc_port, msg, 1, 10) if srv.grpc_port else None
    srv.stop()
    if eng and r1:
        print("  engine alone p50 %.2f ms; through ccserve p50 %.2f ms (p99 %.2f ms): ratio %.3fx "
              "(target <= 1.05x)" % (eng["p50_us"] / 1e3, r1["p50_us"] / 1e3, r1["p99_us"] / 1e3,
                                     r1["p50_us"] / eng["p50_us"]))
    print("== (c) ResNet-50, 16 concurrent streams, batching off vs on")
    bp = os.path.join(tmp, "batching.txt")
    open(bp, "w").write("max_batch_size { value: 16 } batch_timeout_micros { value: 20000 }\n"
                        "max_enqueued_batches { value: 4 } num_batch_threads { value: 1 }\n")
    out = {}
    for name, extra in (("off", []), ("on", ["--batching_parameters_file=" + bp])):
        srv = ccserve(resnet, "resnet", extra)
        out[name] = load(srv.grpc_port, msg, 16, 15) if srv.grpc_port else None
        srv.stop()
        print("  batching %-3s: %s" % (name, fmt(out[name])))
    if out.get("on") and out.get("off"):
        print("  throughput ratio on/off: %.2fx (target >= 1.2x)" % (out["on"]["rps"] / out["off"]["rps"]))
shutil.rmtree(tmp, ignore_errors=True)
