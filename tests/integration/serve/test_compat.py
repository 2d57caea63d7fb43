# SPDX-License-Identifier: Apache-2.0
"""Compatibility with TF Serving's own clients on its own test model: the real
ccserve and inference engine serving half_plus_two (from
../shared/testdata/tfserving) over gRPC + TLS (Python grpcio, stubs generated
from proto/) and REST + TLS (curl).  GetModelMetadata must match
half_plus_two_model_metadata.json in content.

usage: test_compat.py CCSERVE_EXE PROTO_ROOT"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Server, check, free_port, gen_stubs, make_pki, summary, write_ssl_config  # noqa: E402

EXE, PROTO = sys.argv[1], sys.argv[2]
TD = os.path.join(os.environ.get("CCSERVE_SHARED_TESTDATA", ""), "tfserving")
tmp = tempfile.mkdtemp(prefix="ccserve-compat-")
os.makedirs(os.path.join(tmp, "stubs"))
gen_stubs(PROTO, os.path.join(tmp, "stubs"))
import grpc  # noqa: E402
import get_model_metadata_pb2  # noqa: E402
import get_model_status_pb2  # noqa: E402
import model_service_pb2_grpc  # noqa: E402
import predict_pb2  # noqa: E402
import prediction_service_pb2_grpc  # noqa: E402
import regression_pb2  # noqa: E402
import types_pb2  # noqa: E402
from google.protobuf import json_format  # noqa: E402

pki = make_pki(tmp)
ssl_cfg = os.path.join(tmp, "ssl.txt")
write_ssl_config(ssl_cfg, pki)
results = {}
for variant in ("saved_model_half_plus_two_cpu", "saved_model_half_plus_two_tf2_cpu"):
    base = os.path.join(TD, variant)
    srv = Server(EXE, ["--port=%d" % free_port(), "--rest_api_port=%d" % free_port(),
                       "--model_base_path=" + base, "--ssl_config_file=" + ssl_cfg])
    tag = variant.replace("saved_model_", "")
    check(tag + ": serves", srv.grpc_port is not None and srv.rest_port is not None, srv.text()[-1500:])
    if not srv.grpc_port:
        srv.stop()
        continue
    ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port,
                             grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"]))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)

    mr = get_model_metadata_pb2.GetModelMetadataRequest()
    mr.model_spec.name = "default"
    mr.metadata_field.append("signature_def")
    md = stub.GetModelMetadata(mr, timeout=30)
    sdm = get_model_metadata_pb2.SignatureDefMap()
    md.metadata["signature_def"].Unpack(sdm)
    got = {"model_spec": json_format.MessageToDict(md.model_spec, preserving_proto_field_name=True,
                                                   including_default_value_fields=True),
           "metadata": {"signature_def": json_format.MessageToDict(
               sdm, preserving_proto_field_name=True, including_default_value_fields=True)}}
    if variant == "saved_model_half_plus_two_cpu":
        want = json.load(open(os.path.join(TD, "half_plus_two_model_metadata.json")))
        check(tag + ": GetModelMetadata matches half_plus_two_model_metadata.json", got == want,
              json.dumps(got, sort_keys=True)[:1500])
    results[tag] = got

    xdims = [d.size for d in sdm.signature_def["serving_default"].inputs["x"].tensor_shape.dim]
    rank = len(xdims)
    fixed1 = xdims == [1]   # TF2 variant: x has the static shape [1]
    check(tag + ": serving_default x has a known rank", rank in (1, 2), sdm)
    rq = predict_pb2.PredictRequest()
    rq.model_spec.name = "default"
    rq.model_spec.signature_name = "serving_default"
    x = rq.inputs["x"]
    x.dtype = types_pb2.DT_FLOAT
    x.tensor_shape.dim.add().size = 1 if fixed1 else 3
    if rank == 2:
        x.tensor_shape.dim.add().size = 1
    x.float_val.extend([2.0] if fixed1 else [1.0, 2.0, 5.0])
    r = stub.Predict(rq, timeout=30)
    y = r.outputs["y"]
    vals = list(struct.unpack("<%df" % (len(y.tensor_content) // 4), y.tensor_content)) \
        if y.tensor_content else list(y.float_val)
    check(tag + ": gRPC Predict half_plus_two", vals == ([3.0] if fixed1 else [2.5, 3.0, 4.5]), vals)
    check(tag + ": response model spec", r.model_spec.name == "default" and r.model_spec.version.value == 123)

    st = model_service_pb2_grpc.ModelServiceStub(ch).GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "default"}), timeout=30)
    check(tag + ": GetModelStatus", [(s.version, s.state) for s in st.model_version_status] ==
          [(123, get_model_status_pb2.ModelVersionStatus.AVAILABLE)], st)

    rr = regression_pb2.RegressionRequest()
    rr.model_spec.name = "default"
    rr.model_spec.signature_name = "regress_x_to_y"
    ex = rr.input.example_list.examples.add()
    ex.features.feature["x"].float_list.value.append(1.0)
    try:
        stub.Regress(rr, timeout=30)
        check(tag + ": Regress over tf.Example refused", False, "succeeded")
    except grpc.RpcError as e:
        # TF1 export: a regress signature over serialized Examples, which
        # the engine cannot parse.  TF2 export: every signature is saved
        # with method_name predict, which TF Serving's Regress refuses too.
        method = sdm.signature_def["regress_x_to_y"].method_name
        want_code = grpc.StatusCode.UNIMPLEMENTED if method == "tensorflow/serving/regress" \
            else grpc.StatusCode.INVALID_ARGUMENT
        check(tag + ": Regress over tf.Example: " + want_code.name, e.code() == want_code,
              (e.code(), e.details()))

    def curl(path, data=None):
        cmd = ["curl", "-sS", "--cacert", os.path.join(tmp, "ca.pem"), "-w", "\n%{http_code}",
               "https://127.0.0.1:%d%s" % (srv.rest_port, path)]
        if data is not None:
            cmd += ["-d", data]
        out = subprocess.run(cmd, capture_output=True, timeout=30).stdout.decode()
        body, _, code = out.rpartition("\n")
        return int(code or 0), body

    if rank == 2:
        code, body = curl("/v1/models/default:predict", '{"instances": [[1.0], [2.0], [5.0]]}')
        want_rows = [[2.5], [3.0], [4.5]]
        code2, body2 = curl("/v1/models/default/versions/123:predict", '{"inputs": {"x": [[1.0], [2.0]]}}')
        want_cols = [[2.5], [3.0]]
    else:
        code, body = curl("/v1/models/default:predict", '{"instances": [2.0]}')
        want_rows = [3.0]
        code2, body2 = curl("/v1/models/default/versions/123:predict", '{"inputs": {"x": [5.0]}}')
        want_cols = [4.5]
    check(tag + ": REST predict", code == 200 and json.loads(body) == {"predictions": want_rows},
          (code, body))
    check(tag + ": REST columnar predict", code2 == 200 and json.loads(body2) == {"outputs": want_cols},
          (code2, body2))
    if variant == "saved_model_half_plus_two_cpu":
        code, body = curl("/v1/models/default/metadata")
        check(tag + ": REST metadata equals half_plus_two_model_metadata.json",
              code == 200 and json.loads(body) == want, body[:800])
    code, body = curl("/v1/models/default:predict", '{"instances": ["a"]}')
    check(tag + ": REST wrong type -> 400 with error", code == 400 and "error" in json.loads(body), body)
    ch.close()
    check(tag + ": SIGTERM exit 0", srv.stop() == 0)

shutil.rmtree(tmp, ignore_errors=True)
sys.exit(summary())
