#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ccserve benchmark (all figures from one run, on this machine):

 (a) half_plus_two over gRPC + TLS at 1 and 64 concurrent streams: requests/s
     and p50/p99, against a minimal C++ gRPC server on Debian's libgrpc++
     (decodes the same PredictRequest, returns a fixed PredictResponse, same
     certificate), and the engine's in-process call at 1 stream.
 (b) ResNet-50 batch 1 through the server vs the engine alone (p50).
 (c) 16 concurrent streams, batching off vs on: requests/s, p50/p99 and the
     on/off ratio (target >= 1.2x), on two models:
     (c1) ResNet-50, with the engine's own batch-32/batch-1 throughput as
          the ceiling of any batcher on it (compute-bound convolutions);
     (c2) a dense MLP (scripts/gen_mlp.py, default 1024-4096-4096-1024,
          ~96 MB of weights) whose batch-1 run streams every weight from
          memory per request, with the engine's batch-16/batch-1 ceiling.

ResNet-50 (random weights, TF SavedModel) comes from scripts/gen_resnet50.py
(python3-torch); without it (b) and (c1) are skipped and say so.
--parts picks parts (e.g. --parts m for (c2) only).  --smoke: tiny durations,
half_plus_two and a tiny MLP with batching off and on, nothing judged."""
import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile

ROOT = os.environ.get("CCSERVE_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "serve"))
from common import Server, free_port, gen_stubs, make_pki, write_ssl_config  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--ccserve", required=True)
ap.add_argument("--load", required=True)
ap.add_argument("--baseline")
ap.add_argument("--smoke", action="store_true")
ap.add_argument("--resnet", help="existing ResNet-50 model dir (with version 1/)")
ap.add_argument("--mlp", help="existing MLP model dir (with version 1/) from scripts/gen_mlp.py "
                "with --mlp-sizes; generated when absent")
ap.add_argument("--mlp-sizes", default="1024,4096,4096,1024",
                help="MLP layer widths, input first (default 1024,4096,4096,1024)")
ap.add_argument("--mlp-timeout-us", type=int, default=2000,
                help="batch_timeout_micros of the MLP run (default 2000)")
ap.add_argument("--mlp-batch-threads", type=int, default=1,
                help="num_batch_threads of the MLP run (default 1)")
ap.add_argument("--resnet-timeout-us", type=int, default=20000,
                help="batch_timeout_micros of the ResNet-50 run (default 20000)")
ap.add_argument("--parts", default="abc",
                help="parts to run: a, b, c (= c1 + c2); c1 alone is 'r', c2 alone 'm' (default abc)")
ap.add_argument("--seconds", type=float, default=5.0)
ap.add_argument("--rounds", type=int, choices=(1, 2), default=2,
                help="(c): 2 runs off, on, on, off (default); 1: off, on (always with --smoke)")
args = ap.parse_args()
if args.smoke:
    args.rounds = 1
if "c" in args.parts:
    args.parts += "rm"
SMOKE_MLP = "64,128,16"


def mlp_weight_mb(sizes):
    w = [int(v) for v in sizes.split(",")]
    return sum(4 * (w[i] * w[i + 1] + w[i + 1]) for i in range(len(w) - 1)) / (1 << 20)

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


def engine(model_dir, inp, rows, iters, cols=None):
    # Same OpenMP policy as the server runs with, so the two compare.
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    p = subprocess.run([args.load, "engine", model_dir, inp, str(rows), str(iters)] +
                       ([str(cols)] if cols else []),
                       capture_output=True, text=True, timeout=600, env=env)
    if p.returncode != 0:
        print("  engine failed: " + p.stderr.strip()[-300:])
        return None
    return json.loads(p.stdout)


def fmt(r):
    if not r:
        return "n/a"
    return "%9.0f req/s  p50 %8.1f us  p99 %8.1f us" % (r["rps"], r["p50_us"], r["p99_us"])


def ccserve(model_dir, name, extra=(), rest=False):
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    return Server(args.ccserve, ["--port=%d" % free_port(), "--model_name=" + name,
                                 "--model_base_path=" + model_dir, "--ssl_config_file=" + ssl_cfg,
                                 "--file_system_poll_wait_seconds=0"] + list(extra), env=env, rest=rest)


def part_a():
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


def batching_file(max_batch, timeout_us, threads, enqueued):
    path = os.path.join(tmp, "batching-%d-%d-%d.txt" % (max_batch, timeout_us, threads))
    with open(path, "w") as f:
        f.write("max_batch_size { value: %d }\nbatch_timeout_micros { value: %d }\n"
                "max_enqueued_batches { value: %d }\nnum_batch_threads { value: %d }\n"
                % (max_batch, timeout_us, enqueued, threads))
    return path


def batch_stats(srv):
    """Mean processed batch size and mean queueing latency (us) from the
    server's Prometheus endpoint."""
    p = subprocess.run(["curl", "-sS", "--cacert", ca,
                        "https://127.0.0.1:%d/monitoring/prometheus/metrics" % srv.rest_port],
                       capture_output=True, text=True, timeout=30)
    v = {}
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith(":tensorflow:serving:batching_session:"):
            v[parts[0].split(":")[-1].split("{")[0]] = float(parts[1])
    n = v.get("processed_batch_size_count")
    if not n:
        return None
    return (v.get("processed_batch_size_sum", 0) / n, v.get("queuing_latency_sum", 0) / max(
        1, v.get("queuing_latency_count", 0)), int(n))


def off_vs_on(model_dir, name, msg, streams, seconds, bp):
    """Runs off, on, on, off (with --rounds 2; off, on with 1): the machine's
    load drifts, and the mirrored order cancels a linear drift out of the
    ratio.  Returns per mode the pooled requests/s and the mean p50/p99."""
    runs = {"off": [], "on": []}
    mon = os.path.join(tmp, "monitoring.txt")
    with open(mon, "w") as f:
        f.write('prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }\n')
    order = ["off", "on"]
    for _ in range(1, args.rounds):
        order += order[-2:][::-1]
    for mode in order:
        extra = [] if mode == "off" else ["--batching_parameters_file=" + bp,
                                          "--rest_api_port=%d" % free_port(),
                                          "--monitoring_config_file=" + mon]
        srv = ccserve(model_dir, name, extra, rest=mode == "on")
        stats = r = None
        if not srv.grpc_port:
            print("  ccserve did not start: " + srv.text().strip()[-300:])
        else:
            r = load(srv.grpc_port, msg, streams, seconds)
            if mode == "on" and srv.rest_port:
                stats = batch_stats(srv)
        srv.stop()
        runs[mode].append(r)
        print("  batching %-3s: %s%s" % (mode, fmt(r), "" if not stats else
                                        "  (%d batches, mean size %.1f, mean queueing %.1f ms)"
                                        % (stats[2], stats[0], stats[1] / 1e3)))
    out = {}
    for mode, rs in runs.items():
        if not rs or not all(rs):
            out[mode] = None
            continue
        secs_total = sum(r["requests"] / r["rps"] for r in rs)
        out[mode] = {"rps": sum(r["requests"] for r in rs) / secs_total,
                     "p50_us": sum(r["p50_us"] for r in rs) / len(rs),
                     "p99_us": sum(r["p99_us"] for r in rs) / len(rs)}
    if len(order) > 2:
        for mode in ("off", "on"):
            print("  batching %-3s: %s  (both runs: pooled req/s, mean p50/p99)"
                  % (mode, fmt(out[mode])))
    return out


def engine_rows_per_s(r, rows):
    return rows / (r["p50_us"] / 1e6) if r else None


# The MLP: batch 1 is a GEMV that streams every weight from memory per
# request; a batch of 16 streams them once.  max_batch_size 16 = the
# number of streams (each stream has one request in flight, so a batch can
# never hold more).  One batch thread: every run already uses an OpenMP
# team over all cores, so a second batch thread would only interleave two
# half-size batches on the same cores (and the engine makes concurrent runs
# beyond its max_concurrency wait anyway); with one thread the next batch
# collects while the current one runs.  batch_timeout_micros bounds the
# wait of a partial batch: it is set to a fraction of a batch-16 run, long
# enough for the 16 answers of one batch to come back as 16 new requests,
# short enough that a lone request is not held for long.
MLP_STREAMS = 16
MLP_MAX_BATCH = 16
MLP_TIMEOUT_US = args.mlp_timeout_us
MLP_BATCH_THREADS = args.mlp_batch_threads


def mlp_part(sizes, model_dir, seconds, smoke):
    width = int(sizes.split(",")[0])
    if not model_dir:
        gen = os.path.join(ROOT, "scripts", "gen_mlp.py")
        model_dir = os.path.join(tmp, "mlp")
        p = subprocess.run(["/usr/bin/python3", gen, model_dir, "--sizes", sizes],
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            print("  skipped: cannot generate the MLP: " + p.stderr.strip()[-300:])
            return
    vdir = os.path.join(model_dir, "1")
    e1 = engine(vdir, "input", 1, 20 if smoke else 400, width)
    e16 = engine(vdir, "input", MLP_MAX_BATCH, 5 if smoke else 60, width)
    r1, r16 = engine_rows_per_s(e1, 1), engine_rows_per_s(e16, MLP_MAX_BATCH)
    if r1 and r16:
        print("  engine alone: batch 1 p50 %.2f ms = %.0f rows/s; batch %d p50 %.2f ms = %.0f rows/s; "
              "ceiling batch-%d/batch-1 %.2fx"
              % (e1["p50_us"] / 1e3, r1, MLP_MAX_BATCH, e16["p50_us"] / 1e3, r16, MLP_MAX_BATCH,
                 r16 / r1))
    bp = batching_file(MLP_MAX_BATCH, MLP_TIMEOUT_US, MLP_BATCH_THREADS, MLP_STREAMS)
    print("  batching on: max_batch_size %d, batch_timeout_micros %d, num_batch_threads %d, "
          "max_enqueued_batches %d" % (MLP_MAX_BATCH, MLP_TIMEOUT_US, MLP_BATCH_THREADS, MLP_STREAMS))
    msg = request("mlp", "input", [1, width], 0.5)
    out = off_vs_on(model_dir, "mlp", msg, MLP_STREAMS, seconds, bp)
    if out.get("on") and out.get("off"):
        print("  throughput ratio on/off: %.2fx (target >= 1.2x)%s; p99 on/off %.2fx"
              % (out["on"]["rps"] / out["off"]["rps"], " [smoke: not judged]" if smoke else "",
                 out["on"]["p99_us"] / out["off"]["p99_us"]))
    return out


if "a" in args.parts:
    part_a()
if "m" in args.parts and args.smoke:
    print("== (c) batching off vs on, tiny MLP %s, %d streams (smoke)" % (SMOKE_MLP, MLP_STREAMS))
    mlp_part(SMOKE_MLP, None, secs, True)

if args.smoke:
    shutil.rmtree(tmp, ignore_errors=True)
    print("smoke run: nothing judged")
    sys.exit(0)

resnet = args.resnet
if not resnet and ("b" in args.parts or "r" in args.parts):
    gen = os.path.join(ROOT, "scripts", "gen_resnet50.py")
    out = os.path.join(tmp, "resnet")
    p = subprocess.run(["/usr/bin/python3", gen, out, "--no-onnx"], capture_output=True, text=True,
                       timeout=900)
    if p.returncode == 0:
        resnet = os.path.join(out, "tf")
    else:
        print("== (b), (c) ResNet-50 skipped: cannot generate it: " + p.stderr.strip()[-300:])
if resnet:
    rdir = os.path.join(resnet, "1")
    msg = request("resnet", "input", [1, 224, 224, 3], 0.5)
    eng = None
    if "b" in args.parts or "r" in args.parts:
        eng = engine(rdir, "input", -1, 20)
if resnet and "b" in args.parts:
    print("== (b) ResNet-50 batch 1: server vs engine alone")
    # The two are measured in turns (engine, server, server, engine, ...)
    # with the server up throughout, so load drifting on a shared machine
    # hits both alike; the ratio is of the medians of the per-turn p50s.
    srv = ccserve(resnet, "resnet")
    e_p50, s_p50, s_p99 = [], [], []
    if eng:
        e_p50.append(eng["p50_us"])
    # The engine's first turn is the measurement above, when there is one.
    turns = ["server"] + ([] if e_p50 else ["engine"])
    if not args.smoke:
        turns += ["engine", "server", "server", "engine"]
    for what in turns:
        if what == "engine":
            e = engine(rdir, "input", -1, 20)
            if e:
                e_p50.append(e["p50_us"])
        elif srv.grpc_port:
            r = load(srv.grpc_port, msg, 1, 5)
            if r:
                s_p50.append(r["p50_us"])
                s_p99.append(r["p99_us"])
    srv.stop()

    if e_p50 and s_p50:
        print("  engine alone p50 per turn (ms): %s" % ", ".join("%.2f" % (x / 1e3) for x in e_p50))
        print("  through ccserve p50 per turn (ms): %s (p99 max %.2f)"
              % (", ".join("%.2f" % (x / 1e3) for x in s_p50), max(s_p99) / 1e3))
        print("  median engine %.2f ms, median server %.2f ms: ratio %.3fx (target <= 1.05x)"
              % (statistics.median(e_p50) / 1e3, statistics.median(s_p50) / 1e3,
                 statistics.median(s_p50) / statistics.median(e_p50)))
if resnet and "r" in args.parts:
    print("== (c1) ResNet-50, 16 concurrent streams, batching off vs on")
    # The engine's own batch-32/batch-1 throughput bounds what any batcher
    # can gain on this model: convolutions are compute-bound at batch 1.
    e32 = engine(rdir, "input", -32, 3)
    r1, r32 = engine_rows_per_s(eng, 1), engine_rows_per_s(e32, 32)
    if r1 and r32:
        print("  engine alone: batch 1 %.1f img/s, batch 32 %.1f img/s: ceiling batch-32/batch-1 %.2fx"
              % (r1, r32, r32 / r1))
    bp = batching_file(16, args.resnet_timeout_us, 1, 4)
    print("  batching on: max_batch_size 16, batch_timeout_micros %d, num_batch_threads 1, "
          "max_enqueued_batches 4" % args.resnet_timeout_us)
    out = off_vs_on(resnet, "resnet", msg, 16, 15, bp)
    if out.get("on") and out.get("off"):
        print("  throughput ratio on/off: %.2fx (target >= 1.2x; bounded by the engine ceiling above)"
              % (out["on"]["rps"] / out["off"]["rps"]))
if "m" in args.parts:
    print("== (c2) MLP %s (%.0f MiB of fp32 weights), %d concurrent streams, batching off vs on"
          % (args.mlp_sizes, mlp_weight_mb(args.mlp_sizes), MLP_STREAMS))
    mlp_part(args.mlp_sizes, args.mlp, max(secs, 5.0), False)
shutil.rmtree(tmp, ignore_errors=True)
