# SPDX-License-Identifier: Apache-2.0
"""The confidential start end to end: a volume made with ccvol, its key held
by a real cckbs broker behind a release policy, ccserve attesting with the
sim TD provider to get it, then serving the model from the volume over TLS.
Also: a policy denial is a clear, final error; an unreachable broker is
retried with backoff.

usage: test_confidential.py CCSERVE_EXE PROTO_ROOT CCVOL CCKBS CCATTEST"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Server, check, free_port, gen_stubs, make_pki, summary, write_ssl_config  # noqa: E402

EXE, PROTO, CCVOL, CCKBS, CCATTEST = sys.argv[1:6]
tmp = tempfile.mkdtemp(prefix="ccserve-conf-")
os.makedirs(os.path.join(tmp, "stubs"))
gen_stubs(PROTO, os.path.join(tmp, "stubs"))
import grpc  # noqa: E402
import predict_pb2  # noqa: E402
import prediction_service_pb2_grpc  # noqa: E402
import tensor_pb2  # noqa: E402
import types_pb2  # noqa: E402


def j(*p):
    return os.path.join(tmp, *p)


def run(*args, inp=None):
    p = subprocess.run(args, input=inp, capture_output=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (args, p.stderr.decode(errors="replace")))
    return p


pki = make_pki(tmp)    # serves both the broker and ccserve (127.0.0.1)
tree = j("tree")
os.makedirs(os.path.join(tree, "models", "m", "3"))
open(os.path.join(tree, "models", "m", "3", "saved_model.pb"), "wb").write(b"\0")
write_ssl_config(os.path.join(tree, "ssl.txt"), pki)
keyf = j("vol.key")
volkey = os.urandom(32)
open(keyf, "wb").write(volkey)
run(CCVOL, "create", "--from", tree, "--out", j("model.img"), "--key-file", keyf, "--pbkdf", "pbkdf2",
    "--pbkdf-force-iterations", "1000", "--no-progress")
os.unlink(keyf)

sim = j("sim")
run(CCATTEST, "sim", "init", sim)
simcfg = json.load(open(os.path.join(sim, "sim.json")))
run(CCKBS, "keygen", "--out", j("master.key"))
db = j("kbs.db")
for res in ("model/volume/key", "model/volume/denied"):
    run(CCKBS, "secret", "put", res, "--store", db, "--master-key", j("master.key"), inp=volkey)
pol = {"mrtd": [simcfg["mrtd"]], "allow_debug": False, "accepted_tcb_status": ["UpToDate"]}
json.dump(pol, open(j("pol.json"), "w"))
run(CCKBS, "policy", "set", "model/volume/key", j("pol.json"), "--store", db)
json.dump(dict(pol, mrtd=["00" * 48]), open(j("deny.json"), "w"))
run(CCKBS, "policy", "set", "model/volume/denied", j("deny.json"), "--store", db)
ready = j("kbs.port")
broker = subprocess.Popen([CCKBS, "serve", "--store", db, "--master-key", j("master.key"),
                           "--cert", j("server.pem"), "--key", j("server.key"), "--listen", "127.0.0.1:0",
                           "--ready-file", ready, "--sim-root", os.path.join(sim, "root_ca.pem"),
                           "--sim-collateral", os.path.join(sim, "collateral")],
                          stdout=subprocess.DEVNULL, stderr=open(j("kbs.err"), "wb"))
for _ in range(200):
    if os.path.exists(ready) and open(ready).read().strip():
        break
    time.sleep(0.05)
url = "https://127.0.0.1:%s" % open(ready).read().strip()
env = dict(os.environ, CCSERVE_SIM_DIR=sim)
common = ["--volume=" + j("model.img"), "--kbs_url=" + url, "--kbs_ca=" + j("ca.pem"),
          "--attestation_provider=sim", "--model_name=m", "--model_base_path=vol:/models/m",
          "--ssl_config_file=vol:/ssl.txt"]

srv = Server(EXE, ["--port=%d" % free_port(), "--kbs_resource=model/volume/key"] + common, env=env,
             rest=False)
check("ccserve attests, gets the volume key and serves", srv.grpc_port is not None, srv.text()[-1500:])
check("startup log says the broker released the key", "released by the key broker" in srv.text())
if srv.grpc_port:
    ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port,
                             grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"]))
    rq = predict_pb2.PredictRequest()
    rq.model_spec.name = "m"
    t = rq.inputs["x"]
    t.dtype = types_pb2.DT_FLOAT
    t.tensor_shape.dim.add().size = 1
    t.float_val.append(2.0)
    r = prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict(rq, timeout=10)
    check("model from the volume answers", r.model_spec.version.value == 3 and
          list(r.outputs["y"].tensor_content) != [], r)
    ch.close()
check("SIGTERM drains and exits 0", srv.stop() == 0)

p = subprocess.run([EXE, "--port=%d" % free_port(), "--kbs_resource=model/volume/denied"] + common,
                   env=env, capture_output=True, timeout=120)
check("policy denial: clear error, no retry", p.returncode != 0 and b"refused the volume key" in p.stderr
      and b"retrying" not in p.stderr, p.stderr[-800:])

broker.terminate()
broker.wait(timeout=30)
dead = ["--volume=" + j("model.img"), "--kbs_url=https://127.0.0.1:%d" % free_port(),
        "--kbs_ca=" + j("ca.pem"), "--attestation_provider=sim", "--model_base_path=vol:/models/m",
        "--kbs_resource=model/volume/key", "--ssl_config_file=vol:/ssl.txt", "--port=%d" % free_port()]
srv = Server(EXE, dead, env=env, timeout=4, rest=False)
text = srv.text()
check("unreachable broker is retried with backoff", "retrying in 1 s" in text and "retrying in 2 s" in text,
      text[-800:])
srv.stop()
shutil.rmtree(tmp, ignore_errors=True)
sys.exit(summary())
