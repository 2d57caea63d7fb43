#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Independent reference computations for ccclient's unit tests.

Run with /usr/bin/python3 (Debian's numpy and protobuf).  Subcommands:
  resize RAW W H OW OH FILTER CROP MEAN STD OUT   numpy resampling reference
  png OUT W H KIND SEED RAWOUT                    write a PNG with zlib only
  percentiles IN OUT                              numpy mean/percentiles
  pbdecode-request IN                             PredictRequest -> JSON on stdout
  pbencode-response KIND OUT                      a PredictResponse
  pbencode-metadata KIND OUT                      a GetModelMetadataResponse
  xmlcheck FILE                                   parse an SVG, print a summary
  jsoncheck FILE                                  parse JSON, print it back
"""
import json
import struct
import sys
import zlib

import numpy as np


# ---------------------------------------------------------------- resample
def filt(name, x):
    x = np.abs(x)
    if name == "bilinear":
        return np.where(x < 1, 1 - x, 0.0)
    # Lanczos-3: sinc(x) * sinc(x / 3) on |x| < 3 (np.sinc is normalised).
    return np.where(x < 3, np.sinc(x) * np.sinc(x / 3), 0.0)


def weight_matrix(src, start, length, out, name):
    scale = length / out
    fs = max(scale, 1.0)
    centers = start + (np.arange(out) + 0.5) * scale
    d = ((np.arange(src) + 0.5)[None, :] - centers[:, None]) / fs
    w = filt(name, d)
    return w / w.sum(axis=1, keepdims=True)


def crop_region(sw, sh, ow, oh, crop):
    aspect = ow / oh
    if sw / sh > aspect:
        rh, rw = sh, sh * aspect
    else:
        rw, rh = sw, sw / aspect
    rw *= crop
    rh *= crop
    return (sw - rw) / 2, (sh - rh) / 2, rw, rh


def cmd_resize(raw, w, h, ow, oh, name, crop, mean, std, out):
    w, h, ow, oh = int(w), int(h), int(ow), int(oh)
    crop = float(crop)
    mean = np.array([float(v) for v in mean.split(",")])
    std = np.array([float(v) for v in std.split(",")])
    img = np.fromfile(raw, dtype=np.uint8).reshape(h, w, 3).astype(np.float64)
    x0, y0, rw, rh = crop_region(w, h, ow, oh, crop)
    wx = weight_matrix(w, x0, rw, ow, name)
    wy = weight_matrix(h, y0, rh, oh, name)
    tmp = np.tensordot(wy, img, axes=(1, 0))                       # (oh, w, 3)
    res = np.tensordot(tmp, wx, axes=(1, 1)).transpose(0, 2, 1)    # (oh, ow, 3)
    res = np.clip(res, 0, 255)
    res = (res - mean) / std
    res.astype(np.float32).tofile(out)


# ---------------------------------------------------------------- PNG
def png_chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def cmd_png(out, w, h, kind, seed, rawout):
    """KIND: rgb8, gray8, rgba8 (opaque), rgb16, pal8. Writes the PNG and the
    expected 8-bit RGB pixels."""
    w, h = int(w), int(h)
    rng = np.random.default_rng(int(seed))
    rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    if kind == "rgb8":
        ctype, depth, rows, expect = 2, 8, rgb, rgb
    elif kind == "gray8":
        g = rgb[:, :, 0]
        ctype, depth, rows, expect = 0, 8, g, np.repeat(g[:, :, None], 3, axis=2)
    elif kind == "rgba8":
        a = np.full((h, w, 1), 255, dtype=np.uint8)
        ctype, depth, rows, expect = 6, 8, np.concatenate([rgb, a], axis=2), rgb
    elif kind == "rgb16":
        v16 = rgb.astype(np.uint16) * 257
        ctype, depth, rows, expect = 2, 16, v16.astype(">u2"), rgb
    elif kind == "pal8":
        pal = rng.integers(0, 256, size=(16, 3), dtype=np.uint8)
        idx = rng.integers(0, 16, size=(h, w), dtype=np.uint8)
        ctype, depth, rows, expect = 3, 8, idx, pal[idx]
    else:
        raise SystemExit("unknown kind " + kind)
    raw = b"".join(b"\x00" + np.ascontiguousarray(rows[y]).tobytes() for y in range(h))
    data = b"\x89PNG\r\n\x1a\n"
    data += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    if kind == "pal8":
        data += png_chunk(b"PLTE", pal.tobytes())
    data += png_chunk(b"IDAT", zlib.compress(raw, 9))
    data += png_chunk(b"IEND", b"")
    open(out, "wb").write(data)
    np.ascontiguousarray(expect).astype(np.uint8).tofile(rawout)


# ---------------------------------------------------------------- stats
def cmd_percentiles(inp, out):
    v = np.fromfile(inp, dtype=np.float64)
    r = [v.mean(), np.percentile(v, 50), np.percentile(v, 90), np.percentile(v, 99),
         v.min(), v.max(), v.std()]
    np.array(r, dtype=np.float64).tofile(out)


# ---------------------------------------------------------------- protobuf
def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def messages():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from google.protobuf import any_pb2, wrappers_pb2  # noqa: F401 (registers)

    pool = descriptor_pool.Default()
    f = descriptor_pb2.FileDescriptorProto()
    f.name = "ccclient_test_tfs.proto"
    f.package = "tensorflow.serving"
    f.syntax = "proto3"
    f.dependency.extend(["google/protobuf/wrappers.proto", "google/protobuf/any.proto"])
    FD = descriptor_pb2.FieldDescriptorProto
    OPT, REP = FD.LABEL_OPTIONAL, FD.LABEL_REPEATED

    def msg(name, fields, nested=()):
        m = f.message_type.add() if not isinstance(name, descriptor_pb2.DescriptorProto) else name
        if isinstance(name, str):
            m.name = name
        for (fname, num, ftype, label, tname, packed) in fields:
            fd = m.field.add()
            fd.name, fd.number, fd.type, fd.label = fname, num, ftype, label
            if tname:
                fd.type_name = tname
            if packed is not None:
                fd.options.packed = packed
        return m

    def map_entry(parent, name, vtype, vtname):
        e = parent.nested_type.add()
        e.name = name
        e.options.map_entry = True
        msg(e, [("key", 1, FD.TYPE_STRING, OPT, None, None),
                ("value", 2, vtype, OPT, vtname, None)])

    T = ".tensorflow.serving."
    msg("Dim", [("size", 1, FD.TYPE_INT64, OPT, None, None),
                ("name", 2, FD.TYPE_STRING, OPT, None, None)])
    msg("TensorShapeProto", [("dim", 2, FD.TYPE_MESSAGE, REP, T + "Dim", None),
                             ("unknown_rank", 3, FD.TYPE_BOOL, OPT, None, None)])
    msg("TensorProto", [
        ("dtype", 1, FD.TYPE_ENUM if False else FD.TYPE_INT32, OPT, None, None),
        ("tensor_shape", 2, FD.TYPE_MESSAGE, OPT, T + "TensorShapeProto", None),
        ("version_number", 3, FD.TYPE_INT32, OPT, None, None),
        ("tensor_content", 4, FD.TYPE_BYTES, OPT, None, None),
        ("float_val", 5, FD.TYPE_FLOAT, REP, None, True),
        ("double_val", 6, FD.TYPE_DOUBLE, REP, None, True),
        ("int_val", 7, FD.TYPE_INT32, REP, None, True),
        ("string_val", 8, FD.TYPE_BYTES, REP, None, None),
        ("int64_val", 10, FD.TYPE_INT64, REP, None, True),
        ("half_val", 13, FD.TYPE_INT32, REP, None, True),
    ])
    msg("UnpackedFloats", [("dtype", 1, FD.TYPE_INT32, OPT, None, None),
                           ("tensor_shape", 2, FD.TYPE_MESSAGE, OPT, T + "TensorShapeProto", None),
                           ("float_val", 5, FD.TYPE_FLOAT, REP, None, False)])
    msg("ModelSpec", [("name", 1, FD.TYPE_STRING, OPT, None, None),
                      ("version", 2, FD.TYPE_MESSAGE, OPT, ".google.protobuf.Int64Value", None),
                      ("signature_name", 3, FD.TYPE_STRING, OPT, None, None),
                      ("version_label", 4, FD.TYPE_STRING, OPT, None, None)])
    req = msg("PredictRequest", [("model_spec", 1, FD.TYPE_MESSAGE, OPT, T + "ModelSpec", None),
                                 ("inputs", 2, FD.TYPE_MESSAGE, REP, T + "PredictRequest.InputsEntry", None),
                                 ("output_filter", 3, FD.TYPE_STRING, REP, None, None)])
    map_entry(req, "InputsEntry", FD.TYPE_MESSAGE, T + "TensorProto")
    resp = msg("PredictResponse", [("outputs", 1, FD.TYPE_MESSAGE, REP, T + "PredictResponse.OutputsEntry", None),
                                   ("model_spec", 2, FD.TYPE_MESSAGE, OPT, T + "ModelSpec", None)])
    map_entry(resp, "OutputsEntry", FD.TYPE_MESSAGE, T + "TensorProto")
    ti = msg("TensorInfo", [("name", 1, FD.TYPE_STRING, OPT, None, None),
                            ("dtype", 2, FD.TYPE_INT32, OPT, None, None),
                            ("tensor_shape", 3, FD.TYPE_MESSAGE, OPT, T + "TensorShapeProto", None)])
    del ti
    sd = msg("SignatureDef", [("inputs", 1, FD.TYPE_MESSAGE, REP, T + "SignatureDef.InputsEntry", None),
                              ("outputs", 2, FD.TYPE_MESSAGE, REP, T + "SignatureDef.OutputsEntry", None),
                              ("method_name", 3, FD.TYPE_STRING, OPT, None, None)])
    map_entry(sd, "InputsEntry", FD.TYPE_MESSAGE, T + "TensorInfo")
    map_entry(sd, "OutputsEntry", FD.TYPE_MESSAGE, T + "TensorInfo")
    sdm = msg("SignatureDefMap", [("signature_def", 1, FD.TYPE_MESSAGE, REP, T + "SignatureDefMap.SignatureDefEntry", None)])
    map_entry(sdm, "SignatureDefEntry", FD.TYPE_MESSAGE, T + "SignatureDef")
    md = msg("GetModelMetadataResponse", [("model_spec", 1, FD.TYPE_MESSAGE, OPT, T + "ModelSpec", None),
                                          ("metadata", 2, FD.TYPE_MESSAGE, REP, T + "GetModelMetadataResponse.MetadataEntry", None)])
    map_entry(md, "MetadataEntry", FD.TYPE_MESSAGE, ".google.protobuf.Any")
    mreq = msg("GetModelMetadataRequest", [("model_spec", 1, FD.TYPE_MESSAGE, OPT, T + "ModelSpec", None),
                                           ("metadata_field", 2, FD.TYPE_STRING, REP, None, None)])
    del mreq
    pool.Add(f)
    fac = message_factory.MessageFactory(pool)
    return {n: fac.GetPrototype(pool.FindMessageTypeByName("tensorflow.serving." + n))
            for n in ["PredictRequest", "PredictResponse", "TensorProto", "UnpackedFloats",
                      "GetModelMetadataResponse", "GetModelMetadataRequest", "SignatureDefMap"]}


def cmd_pbdecode_request(inp):
    M = messages()
    data = open(inp, "rb").read()
    name = "GetModelMetadataRequest" if inp.endswith(".meta") else "PredictRequest"
    r = M[name]()
    r.ParseFromString(data)
    out = {"model": r.model_spec.name, "signature": r.model_spec.signature_name,
           "has_version": r.model_spec.HasField("version"),
           "version": r.model_spec.version.value,
           "reserialized_equal": r.SerializeToString(deterministic=True) == data}
    if name == "PredictRequest":
        out["inputs"] = {}
        for k, t in r.inputs.items():
            vals = np.frombuffer(t.tensor_content, dtype="<f4")
            out["inputs"][k] = {"dtype": t.dtype, "dims": [d.size for d in t.tensor_shape.dim],
                                "count": int(vals.size), "sum": float(vals.astype(np.float64).sum()),
                                "first": [float(x) for x in vals[:4]]}
    else:
        out["fields"] = list(r.metadata_field)
    print(json.dumps(out))


def cmd_pbencode_response(kind, out):
    M = messages()
    r = M["PredictResponse"]()
    r.model_spec.name = "m"
    vals = (np.arange(2 * 5, dtype=np.float32) * 0.5 - 1).reshape(2, 5)
    t = r.outputs["predict"]
    t.dtype = 1
    for d in (2, 5):
        t.tensor_shape.dim.add().size = d
    if kind == "content":
        t.tensor_content = vals.astype("<f4").tobytes()
    elif kind == "float_val":
        t.float_val.extend(vals.ravel().tolist())
    elif kind == "double_val":
        t.dtype = 2
        t.double_val.extend(vals.ravel().astype(np.float64).tolist())
    elif kind == "int64_val":
        t.dtype = 9
        t.int64_val.extend([int(x) for x in (vals.ravel() * 2)])
    elif kind == "compact":
        t.float_val.extend([1.5])  # one value fills the shape
    elif kind == "two_outputs":
        t.tensor_content = vals.astype("<f4").tobytes()
        u = r.outputs["classes"]
        u.dtype = 9
        u.tensor_shape.dim.add().size = 2
        u.int64_val.extend([3, 4])
    elif kind == "unpacked":
        u = M["UnpackedFloats"]()
        u.dtype = 1
        for d in (2, 5):
            u.tensor_shape.dim.add().size = d
        u.float_val.extend(vals.ravel().tolist())
        # Serialise the entry by hand so the floats stay unpacked.
        def ln(field, b):
            return bytes([field << 3 | 2]) + varint(len(b)) + b
        entry = ln(1, b"predict") + ln(2, u.SerializeToString())
        open(out, "wb").write(ln(1, entry))
        return
    elif kind == "mismatch":
        t.tensor_content = vals.astype("<f4").tobytes()[:-4]
    else:
        raise SystemExit("unknown kind")
    open(out, "wb").write(r.SerializeToString())


def cmd_pbencode_metadata(kind, out):
    M = messages()
    sdm = M["SignatureDefMap"]()
    sig = sdm.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    names = ["input"] if kind != "two_inputs" else ["a", "b"]
    for n in names:
        ti = sig.inputs[n]
        ti.name = n + ":0"
        ti.dtype = 1
        for d in (-1, 299, 320, 3):
            ti.tensor_shape.dim.add().size = d
    sig.outputs["predict"].dtype = 1
    other = sdm.signature_def["other"]
    other.inputs["x"].dtype = 3
    r = M["GetModelMetadataResponse"]()
    r.model_spec.name = "m"
    r.model_spec.version.value = 7
    r.metadata["signature_def"].Pack(sdm)
    open(out, "wb").write(r.SerializeToString())


# ---------------------------------------------------------------- documents
def cmd_xmlcheck(path):
    import xml.etree.ElementTree as ET
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg", root.tag
    out = {"rects": 0, "circles": 0, "texts": []}
    for g in root.iter(ns + "g"):
        if g.get("class") == "histogram":
            out["rects"] = len(g.findall(ns + "rect"))
            out["hist_total"] = sum(int(r.find(ns + "title").text) for r in g.findall(ns + "rect"))
        if g.get("class") == "timeline":
            out["circles"] = len(g.findall(ns + "circle"))
    out["texts"] = [t.text for t in root.iter(ns + "text")][:3]
    print(json.dumps(out))


def cmd_jsoncheck(path):
    print(json.dumps(json.load(open(path))))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"resize": cmd_resize, "png": cmd_png, "percentiles": cmd_percentiles,
     "pbdecode-request": cmd_pbdecode_request, "pbencode-response": cmd_pbencode_response,
     "pbencode-metadata": cmd_pbencode_metadata, "xmlcheck": cmd_xmlcheck,
     "jsoncheck": cmd_jsoncheck}[cmd](*args)


if __name__ == "__main__":
    main()
