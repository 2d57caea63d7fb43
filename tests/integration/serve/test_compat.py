# SPDX-License-Identifier: Apache-2.0
"""Compatibility with TF Serving's own clients on its own test model: the real
ccserve and inference engine serving half_plus_two (from
../shared/testdata/tfserving) over gRPC + TLS (Python grpcio, stubs generated
from proto/) and REST + TLS (curl): Predict, GetModelMetadata (must match
half_plus_two_model_metadata.json in content), GetModelStatus, Classify,
Regress and MultiInference over tf.Example with their errors, REST
:predict / :classify / :regress.

usage: test_compat.py CCSERVE_EXE PROTO_ROOT"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Server, check, free_port, gen_stubs, make_pki, summary,  # noqa: E402
                    tfrecord, write_ssl_config)

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
import classification_pb2  # noqa: E402
import inference_pb2  # noqa: E402
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
    for v in (1.0, 2.0):
        ex = rr.input.example_list.examples.add()
        ex.features.feature["x"].float_list.value.append(v)
    method = sdm.signature_def["regress_x_to_y"].method_name
    if method == "tensorflow/serving/regress":
        # TF1 export: signatures over serialized tf.Example (ParseExample)
        r = stub.Regress(rr, timeout=30)
        check(tag + ": gRPC Regress [{x: 1}, {x: 2}] -> [2.5, 3.0]",
              [x.value for x in r.result.regressions] == [2.5, 3.0], r)
        check(tag + ": Regress model spec", r.model_spec.name == "default" and
              r.model_spec.version.value == 123 and r.model_spec.signature_name == "regress_x_to_y",
              r.model_spec)
        cr = classification_pb2.ClassificationRequest()
        cr.model_spec.name = "default"
        cr.model_spec.signature_name = "classify_x_to_y"
        ctx = cr.input.example_list_with_context
        ctx.context.features.feature["x"].float_list.value.append(5.0)
        ctx.examples.add().features.feature["x"].float_list.value.append(1.0)
        ctx.examples.add()  # x from the context
        r = stub.Classify(cr, timeout=30)
        got = [[(c.label, c.score) for c in cl.classes] for cl in r.result.classifications]
        check(tag + ": gRPC Classify with context", got == [[("", 2.5)], [("", 4.5)]], got)
        mi = inference_pb2.MultiInferenceRequest()
        for sig, meth in (("regress_x_to_y", "regress"), ("regress_x_to_y2", "regress"),
                          ("classify_x_to_y", "classify")):
            t = mi.tasks.add()
            t.model_spec.name = "default"
            t.model_spec.signature_name = sig
            t.method_name = "tensorflow/serving/" + meth
        mi.input.example_list.examples.add().features.feature["x"].float_list.value.append(2.0)
        r = stub.MultiInference(mi, timeout=30)
        got = [(x.model_spec.signature_name, x.WhichOneof("result")) for x in r.results]
        vals = [x.regression_result.regressions[0].value if x.HasField("regression_result")
                else x.classification_result.classifications[0].classes[0].score for x in r.results]
        check(tag + ": gRPC MultiInference (2 regress + classify)",
              got == [("regress_x_to_y", "regression_result"), ("regress_x_to_y2", "regression_result"),
                      ("classify_x_to_y", "classification_result")] and vals == [3.0, 4.0, 3.0],
              (got, vals))

        def rpc_err(fn, req):
            try:
                fn(req, timeout=30)
                return None
            except grpc.RpcError as e:
                return e

        # errors, as TF Serving answers them
        bad = regression_pb2.RegressionRequest()
        bad.CopyFrom(rr)
        bad.input.example_list.examples[1].features.feature["y"].float_list.value.append(1.0)
        del bad.input.example_list.examples[1].features.feature["x"]
        e = rpc_err(stub.Regress, bad)
        check(tag + ": missing feature -> INVALID_ARGUMENT naming it",
              e and e.code() == grpc.StatusCode.INVALID_ARGUMENT and "Feature: x" in e.details()
              and "example 1" in e.details(), e and e.details())
        bad.input.example_list.examples[1].features.feature["x"].int64_list.value.append(2)
        e = rpc_err(stub.Regress, bad)
        check(tag + ": int64 feature for a float -> INVALID_ARGUMENT",
              e and e.code() == grpc.StatusCode.INVALID_ARGUMENT and "Data types don't match" in e.details(),
              e and e.details())
        bad.ClearField("input")
        e = rpc_err(stub.Regress, bad)
        check(tag + ": no examples -> Input is empty.",
              e and e.code() == grpc.StatusCode.INVALID_ARGUMENT and e.details() == "Input is empty.",
              e and e.details())
        bad.CopyFrom(rr)
        bad.model_spec.signature_name = "regress_x2_to_y3"
        e = rpc_err(stub.Regress, bad)
        check(tag + ": Regress on a tensor-input signature -> UNIMPLEMENTED",
              e and e.code() == grpc.StatusCode.UNIMPLEMENTED, e and e.details())
        bad.model_spec.signature_name = "classify_x_to_y"
        e = rpc_err(stub.Regress, bad)
        check(tag + ": Regress on a classify signature -> INVALID_ARGUMENT",
              e and e.code() == grpc.StatusCode.INVALID_ARGUMENT and
              "Expected regression signature method_name to be tensorflow/serving/regress" in e.details(),
              e and e.details())
        bad.model_spec.signature_name = "nope"
        e = rpc_err(stub.Regress, bad)
        check(tag + ": unknown signature -> INVALID_ARGUMENT",
              e and e.code() == grpc.StatusCode.INVALID_ARGUMENT and
              e.details() == "No signature was found with the name: nope", e and e.details())
        mi2 = inference_pb2.MultiInferenceRequest()
        mi2.CopyFrom(mi)
        mi2.tasks[1].model_spec.signature_name = "regress_x_to_y"
        e = rpc_err(stub.MultiInference, mi2)
        check(tag + ": MultiInference duplicate signature -> INVALID_ARGUMENT",
              e and e.code() == grpc.StatusCode.INVALID_ARGUMENT and "Duplicate evaluation" in e.details(),
              e and e.details())
        mi2.CopyFrom(mi)
        mi2.tasks[1].model_spec.name = "other"
        e = rpc_err(stub.MultiInference, mi2)
        check(tag + ": MultiInference two models -> INVALID_ARGUMENT",
              e and e.code() == grpc.StatusCode.INVALID_ARGUMENT and "same model name" in e.details(),
              e and e.details())
        mi2.CopyFrom(mi)
        mi2.tasks[1].method_name = "tensorflow/serving/predict"
        e = rpc_err(stub.MultiInference, mi2)
        check(tag + ": MultiInference predict task -> UNIMPLEMENTED",
              e and e.code() == grpc.StatusCode.UNIMPLEMENTED, e and e.details())
        # Predict on the Example signature with a vector of serialized Examples
        pq = predict_pb2.PredictRequest()
        pq.model_spec.name = "default"
        pq.model_spec.signature_name = "classify_x_to_y"
        pq.inputs["inputs"].dtype = types_pb2.DT_STRING
        pq.inputs["inputs"].tensor_shape.dim.add().size = 2
        for ex in rr.input.example_list.examples:
            pq.inputs["inputs"].string_val.append(ex.SerializeToString())
        r = stub.Predict(pq, timeout=30)
        sc = r.outputs["scores"]
        vals = list(struct.unpack("<%df" % (len(sc.tensor_content) // 4), sc.tensor_content)) \
            if sc.tensor_content else list(sc.float_val)
        check(tag + ": Predict with serialized Examples", vals == [2.5, 3.0], vals)
        # a rank-1 tensor for x declared [-1, 1], as TF Serving feeds it
        r1 = predict_pb2.PredictRequest()
        r1.model_spec.name = "default"
        r1.inputs["x"].dtype = types_pb2.DT_FLOAT
        r1.inputs["x"].tensor_shape.dim.add().size = 3
        r1.inputs["x"].float_val.extend([1.0, 2.0, 5.0])
        r = stub.Predict(r1, timeout=30)
        y = r.outputs["y"]
        vals = list(struct.unpack("<%df" % (len(y.tensor_content) // 4), y.tensor_content)) \
            if y.tensor_content else list(y.float_val)
        check(tag + ": gRPC Predict rank-1 x", vals == [2.5, 3.0, 4.5] and
              [d.size for d in y.tensor_shape.dim] == [3], (vals, y.tensor_shape))
    else:
        # TF2 export: every signature has method_name predict, which TF
        # Serving's Regress refuses
        try:
            stub.Regress(rr, timeout=30)
            check(tag + ": Regress on a predict signature refused", False, "succeeded")
        except grpc.RpcError as e:
            check(tag + ": Regress on a predict signature: INVALID_ARGUMENT",
                  e.code() == grpc.StatusCode.INVALID_ARGUMENT, (e.code(), e.details()))

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
        # the README example of TF Serving: rank-1 rows on x [-1, 1]
        code, body = curl("/v1/models/default:predict", '{"instances": [1.0, 2.0, 5.0]}')
        check(tag + ": REST rank-1 instances", code == 200 and
              json.loads(body) == {"predictions": [2.5, 3.0, 4.5]}, (code, body))
        code, body = curl("/v1/models/default:regress",
                          '{"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 2.0}]}')
        check(tag + ": REST :regress", code == 200 and json.loads(body) == {"results": [2.5, 3.0]},
              (code, body))
        code, body = curl("/v1/models/default/versions/123:classify",
                          '{"signature_name": "classify_x_to_y", "context": {"x": 5.0}, '
                          '"examples": [{"x": [1.0]}, {}]}')
        check(tag + ": REST :classify with context", code == 200 and
              json.loads(body) == {"results": [[["", 2.5]], [["", 4.5]]]}, (code, body))
        code, body = curl("/v1/models/default:regress",
                          '{"signature_name": "regress_x_to_y", "examples": [{"x": 1}]}')
        check(tag + ": REST :regress int feature for a float -> 400", code == 400 and
              "Data types don't match" in json.loads(body)["error"], (code, body))
        code, body = curl("/v1/models/default:regress",
                          '{"signature_name": "regress_x_to_y", "examples": [{"z": 1.0}]}')
        check(tag + ": REST :regress missing feature -> 400", code == 400 and
              "Feature: x" in json.loads(body)["error"], (code, body))
        code, body = curl("/v1/models/default:regress", '{"examples": [{"x": 1.0}]}')
        check(tag + ": REST :regress on serving_default -> 400", code == 400 and
              "Expected regression signature method_name" in json.loads(body)["error"], (code, body))
        code, body = curl("/v1/models/default:regress",
                          '{"signature_name": "regress_x2_to_y3", "examples": [{"x2": 1.0}]}')
        check(tag + ": REST :regress on a tensor-input signature -> 501", code == 501 and
              "error" in json.loads(body), (code, body))
        code, body = curl("/v1/models/default:classify", '{"signature_name": "classify_x_to_y"}')
        check(tag + ": REST :classify without examples -> 400", code == 400 and
              "'examples'" in json.loads(body)["error"], (code, body))
        code, body = curl("/v1/models/default/metadata")
        check(tag + ": REST metadata equals half_plus_two_model_metadata.json",
              code == 200 and json.loads(body) == want, body[:800])
    code, body = curl("/v1/models/default:predict", '{"instances": ["a"]}')
    check(tag + ": REST wrong type -> 400 with error", code == 400 and "error" in json.loads(body), body)
    ch.close()
    check(tag + ": SIGTERM exit 0", srv.stop() == 0)

# Warmup records over tf.Example (ClassifyLog, RegressLog, MultiInferenceLog)
# replayed when the TF1 model loads.
import prediction_log_pb2  # noqa: E402
wm = os.path.join(tmp, "warm", "123")
shutil.copytree(os.path.join(TD, "saved_model_half_plus_two_cpu", "00000123"), wm)
os.makedirs(os.path.join(wm, "assets.extra"), exist_ok=True)
recs = []
pl = prediction_log_pb2.PredictionLog()
pl.regress_log.request.model_spec.signature_name = "regress_x_to_y"
pl.regress_log.request.input.example_list.examples.add().features.feature["x"].float_list.value.append(1.0)
recs.append(pl.SerializeToString())
pl = prediction_log_pb2.PredictionLog()
pl.classify_log.request.model_spec.signature_name = "classify_x_to_y"
pl.classify_log.request.input.example_list.examples.add().features.feature["x"].float_list.value.append(1.0)
recs.append(pl.SerializeToString())
pl = prediction_log_pb2.PredictionLog()
t = pl.multi_inference_log.request.tasks.add()
t.model_spec.signature_name = "regress_x_to_y2"
t.method_name = "tensorflow/serving/regress"
pl.multi_inference_log.request.input.example_list.examples.add().features.feature["x"].float_list.value.append(3.0)
recs.append(pl.SerializeToString())
open(os.path.join(wm, "assets.extra", "tf_serving_warmup_requests"), "wb").write(tfrecord(recs))
srv = Server(EXE, ["--port=%d" % free_port(), "--rest_api_port=%d" % free_port(),
                   "--model_base_path=" + os.path.dirname(wm), "--ssl_config_file=" + ssl_cfg])
check("tf.Example warmup records replayed at load", "3 warmup requests replayed" in srv.text(),
      srv.text()[-800:])
check("warmup server stops", srv.stop() == 0)
# a record whose Example lacks the required feature fails the version's load
pl = prediction_log_pb2.PredictionLog()
pl.regress_log.request.model_spec.signature_name = "regress_x_to_y"
pl.regress_log.request.input.example_list.examples.add()
open(os.path.join(wm, "assets.extra", "tf_serving_warmup_requests"), "wb").write(
    tfrecord([pl.SerializeToString()]))
srv = Server(EXE, ["--port=%d" % free_port(), "--rest_api_port=%d" % free_port(),
                   "--model_base_path=" + os.path.dirname(wm), "--ssl_config_file=" + ssl_cfg],
             timeout=15)
text = srv.text()
srv.stop()
check("bad tf.Example warmup record fails the load", "Feature: x" in text, text[-800:])

# A classify signature with string class labels, built here: the engine
# computes no strings, so Classify answers UNIMPLEMENTED naming "classes";
# the same graph's scores-only signature classifies.
import saved_model_pb2  # noqa: E402
sm = saved_model_pb2.SavedModel()
mg = sm.meta_graphs.add()
mg.meta_info_def.tags.append("serve")
g = mg.graph_def


def node(name, op, inputs=(), **attrs):
    n = g.node.add()
    n.name, n.op = name, op
    n.input.extend(inputs)
    for k, v in attrs.items():
        n.attr[k].CopyFrom(v)
    return n


def strconst(name, vals, shape):
    n = node(name, "Const")
    n.attr["dtype"].type = types_pb2.DT_STRING
    t = n.attr["value"].tensor
    t.dtype = types_pb2.DT_STRING
    for d in shape:
        t.tensor_shape.dim.add().size = d
    t.string_val.extend(vals)


node("ser", "Placeholder").attr["dtype"].type = types_pb2.DT_STRING
strconst("names", [], [0])
strconst("k", [b"x"], [])
d = node("d", "Const")
d.attr["dtype"].type = types_pb2.DT_FLOAT
d.attr["value"].tensor.dtype = types_pb2.DT_FLOAT
d.attr["value"].tensor.tensor_shape.dim.add().size = 0
pe = node("pe", "ParseExample", ["ser", "names", "k", "d"])
pe.attr["Nsparse"].i = 0
pe.attr["Ndense"].i = 1
pe.attr["Tdense"].list.type.append(types_pb2.DT_FLOAT)
pe.attr["dense_shapes"].list.shape.add().dim.add().size = 2
pe.attr["sparse_types"].list.SetInParent()
node("scores", "Identity", ["pe:0"]).attr["T"].type = types_pb2.DT_FLOAT
strconst("classes", [b"a", b"b"], [1, 2])
for name, outs in (("cls", ("scores", "classes")), ("cls_scores", ("scores",))):
    sd = mg.signature_def[name]
    sd.method_name = "tensorflow/serving/classify"
    sd.inputs["inputs"].name, sd.inputs["inputs"].dtype = "ser:0", types_pb2.DT_STRING
    for o in outs:
        sd.outputs[o].name = o + ":0"
        sd.outputs[o].dtype = types_pb2.DT_STRING if o == "classes" else types_pb2.DT_FLOAT
cm = os.path.join(tmp, "cls", "1")
os.makedirs(cm)
open(os.path.join(cm, "saved_model.pb"), "wb").write(sm.SerializeToString())
srv = Server(EXE, ["--port=%d" % free_port(), "--rest_api_port=%d" % free_port(),
                   "--model_base_path=" + os.path.dirname(cm), "--ssl_config_file=" + ssl_cfg])
check("classes model serves", srv.grpc_port is not None, srv.text()[-800:])
if srv.grpc_port:
    ch = grpc.secure_channel("127.0.0.1:%d" % srv.grpc_port,
                             grpc.ssl_channel_credentials(root_certificates=pki["ca.pem"]))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
    cr = classification_pb2.ClassificationRequest()
    cr.model_spec.name = "default"
    cr.model_spec.signature_name = "cls"
    cr.input.example_list.examples.add().features.feature["x"].float_list.value.extend([0.25, 0.75])
    try:
        stub.Classify(cr, timeout=30)
        check("Classify with DT_STRING classes -> UNIMPLEMENTED", False, "succeeded")
    except grpc.RpcError as e:
        check("Classify with DT_STRING classes -> UNIMPLEMENTED",
              e.code() == grpc.StatusCode.UNIMPLEMENTED and '"classes"' in e.details(), e.details())
    cr.model_spec.signature_name = "cls_scores"
    r = stub.Classify(cr, timeout=30)
    got = [[(c.label, c.score) for c in cl.classes] for cl in r.result.classifications]
    check("Classify scores [batch, 2] -> two classes", got == [[("", 0.25), ("", 0.75)]], got)
    ch.close()
check("classes server stops", srv.stop() == 0)

shutil.rmtree(tmp, ignore_errors=True)
sys.exit(summary())
