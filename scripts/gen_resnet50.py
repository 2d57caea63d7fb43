#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Deterministic ResNet-50 v1.5 test models with random weights.

Writes, from one set of weights (torchvision's resnet50 with 1001 classes,
seeded, BatchNorm statistics randomised so that folding matters):

  OUT/tf/1/saved_model.pb   TensorFlow SavedModel (frozen graph: weights are
                            Const nodes) in the op vocabulary TF exports for
                            a Keras/TF ResNet: Placeholder 'input' [N,224,224,3]
                            NHWC float32, Pad, Conv2D, FusedBatchNormV3, Relu,
                            MaxPool, AddV2, Mean, MatMul, BiasAdd, Softmax;
                            signature 'serving_default': input 'input',
                            output 'predict' [N,1001] (softmax probabilities).
                            Written through proto/tf/*.proto with
                            python3-protobuf (protoc generates the modules).
  OUT/onnx/model.onnx       torchvision resnet50 through torch.onnx.export
                            (opset 13, dynamic batch): input 'input'
                            [N,3,224,224], output 'logits' [N,1001].
  OUT/ref/                  with --ref B1,B4,...: input_bN.npy (NHWC),
                            input_nchw_bN.npy, logits_bN.npy, predict_bN.npy
                            computed by PyTorch fp32 (eval mode).

Padding follows torchvision exactly (the TF graph pads explicitly before
VALID strided convs and the max pool), so the PyTorch outputs are the
reference for both files.  Usage:
  gen_resnet50.py OUT [--seed N] [--ref 1,4] [--no-onnx] [--no-tf]
                 [--tf-dir DIR] [--onnx-path FILE]
For the demo model: gen_resnet50.py /tmp/r50 --no-onnx --tf-dir model/resnet50-v15-fp32/1
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_TF = os.path.join(HERE, '..', 'proto', 'tf')

DT_FLOAT, DT_INT32, DT_STRING = 1, 3, 7


def load_protos(tmp):
    protos = [f for f in os.listdir(PROTO_TF) if f.endswith('.proto')]
    subprocess.run(['protoc', '-I', PROTO_TF, '--python_out', tmp] +
                   [os.path.join(PROTO_TF, p) for p in protos], check=True)
    sys.path.insert(0, tmp)
    import graph_pb2  # noqa: E402  (generated above)
    import saved_model_pb2  # noqa: E402

    class PB:
        GraphDef = graph_pb2.GraphDef
        SavedModel = saved_model_pb2.SavedModel
    return PB


def make_model(seed):
    import torch
    import torchvision
    torch.manual_seed(seed)
    m = torchvision.models.resnet50(num_classes=1001)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
                mod.bias.copy_(torch.randn(c, generator=g) * 0.1)
                mod.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
        m.fc.weight.mul_(4.0)
    m.eval()
    return m


class TFGraph:
    def __init__(self, pb):
        self.pb = pb
        self.g = pb.GraphDef()
        self.g.versions.producer = 1205

    def node(self, name, op, inputs=(), **attrs):
        n = self.g.node.add()
        n.name = name
        n.op = op
        n.input.extend(inputs)
        for k, v in attrs.items():
            a = n.attr[k]
            if isinstance(v, bool):
                a.b = v
            elif isinstance(v, int):
                a.i = v
            elif isinstance(v, float):
                a.f = v
            elif isinstance(v, bytes):
                a.s = v
            elif isinstance(v, tuple) and v[0] == 'type':
                a.type = v[1]
            elif isinstance(v, tuple) and v[0] == 'ints':
                a.list.i.extend(v[1])
            elif isinstance(v, tuple) and v[0] == 'shape':
                for d in v[1]:
                    a.shape.dim.add().size = d
            else:
                raise TypeError(k)
        return name

    def const(self, name, arr):
        arr = np.array(arr, order='C')  # keeps 0-d arrays 0-d
        if arr.dtype.kind == 'U':
            dt = DT_STRING
        else:
            dt = DT_FLOAT if arr.dtype == np.float32 else DT_INT32
        n = self.g.node.add()
        n.name = name
        n.op = 'Const'
        n.attr['dtype'].type = dt
        t = n.attr['value'].tensor
        t.dtype = dt
        for d in arr.shape:
            t.tensor_shape.dim.add().size = d
        if dt == DT_STRING:
            t.string_val.extend(v.encode() for v in arr.reshape(-1))
        else:
            t.tensor_content = arr.tobytes()
        return name


def conv_bn(tg, W, name, x, conv, bn, stride, relu):
    """conv/bn are state_dict prefixes ('layer1.0.conv1', 'layer1.0.bn1')."""
    w = W[conv + '.weight']  # OIHW
    k = w.shape[2]
    hwio = np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0))).astype(np.float32)
    wn = tg.const(name + '/kernel', hwio)
    if stride > 1 and k > 1:
        p = (k - 1) // 2
        pads = tg.const(name + '/pad/paddings',
                        np.array([[0, 0], [p, p], [p, p], [0, 0]], np.int32))
        x = tg.node(name + '/pad', 'Pad', [x, pads], T=('type', DT_FLOAT),
                    Tpaddings=('type', DT_INT32))
        padding = b'VALID'
    else:
        padding = b'SAME' if k > 1 else b'VALID'
    y = tg.node(name + '/Conv2D', 'Conv2D', [x, wn], T=('type', DT_FLOAT),
                strides=('ints', [1, stride, stride, 1]), padding=padding,
                data_format=b'NHWC', dilations=('ints', [1, 1, 1, 1]),
                use_cudnn_on_gpu=True)
    ins = [y] + [tg.const(name + '/bn/' + t, W[bn + '.' + s].astype(np.float32))
                 for t, s in (('gamma', 'weight'), ('beta', 'bias'),
                              ('moving_mean', 'running_mean'),
                              ('moving_variance', 'running_var'))]
    y = tg.node(name + '/bn/FusedBatchNormV3', 'FusedBatchNormV3', ins,
                T=('type', DT_FLOAT), U=('type', DT_FLOAT), epsilon=1e-5,
                data_format=b'NHWC', is_training=False,
                exponential_avg_factor=1.0)
    if relu:
        y = tg.node(name + '/Relu', 'Relu', [y], T=('type', DT_FLOAT))
    return y


def write_tf(W, pb, out):
    tg = TFGraph(pb)
    x = tg.node('input', 'Placeholder', dtype=('type', DT_FLOAT),
                shape=('shape', [-1, 224, 224, 3]))
    y = conv_bn(tg, W, 'conv1', x, 'conv1', 'bn1', 2, True)
    pads = tg.const('pool1/pad/paddings',
                    np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))
    # the max pool input is post-ReLU (>= 0): zero padding acts as -inf
    y = tg.node('pool1/pad', 'Pad', [y, pads], T=('type', DT_FLOAT),
                Tpaddings=('type', DT_INT32))
    y = tg.node('pool1/MaxPool', 'MaxPool', [y], T=('type', DT_FLOAT),
                ksize=('ints', [1, 3, 3, 1]), strides=('ints', [1, 2, 2, 1]),
                padding=b'VALID', data_format=b'NHWC')
    for li, nblocks in enumerate([3, 4, 6, 3]):
        for bi in range(nblocks):
            nm = 'stage%d/block%d' % (li + 1, bi + 1)
            p = 'layer%d.%d.' % (li + 1, bi)
            s = 2 if (bi == 0 and li > 0) else 1
            sc = y
            if bi == 0:
                sc = conv_bn(tg, W, nm + '/shortcut', y, p + 'downsample.0',
                             p + 'downsample.1', s, False)
            h = conv_bn(tg, W, nm + '/conv1', y, p + 'conv1', p + 'bn1', 1, True)
            h = conv_bn(tg, W, nm + '/conv2', h, p + 'conv2', p + 'bn2', s, True)
            h = conv_bn(tg, W, nm + '/conv3', h, p + 'conv3', p + 'bn3', 1, False)
            y = tg.node(nm + '/add', 'AddV2', [h, sc], T=('type', DT_FLOAT))
            y = tg.node(nm + '/Relu', 'Relu', [y], T=('type', DT_FLOAT))
    axes = tg.const('pool5/reduction_indices', np.array([1, 2], np.int32))
    y = tg.node('pool5/Mean', 'Mean', [y, axes], T=('type', DT_FLOAT),
                Tidx=('type', DT_INT32), keep_dims=False)
    w = tg.const('dense/kernel', np.ascontiguousarray(W['fc.weight'].T).astype(np.float32))
    b = tg.const('dense/bias', W['fc.bias'].astype(np.float32))
    y = tg.node('dense/MatMul', 'MatMul', [y, w], T=('type', DT_FLOAT),
                transpose_a=False, transpose_b=False)
    y = tg.node('dense/BiasAdd', 'BiasAdd', [y, b], T=('type', DT_FLOAT),
                data_format=b'NHWC')
    tg.node('predict', 'Softmax', [y], T=('type', DT_FLOAT))

    sm = pb.SavedModel()
    sm.saved_model_schema_version = 1
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append('serve')
    mg.meta_info_def.tensorflow_version = '2.11.0'
    mg.graph_def.CopyFrom(tg.g)
    sig = mg.signature_def['serving_default']
    sig.method_name = 'tensorflow/serving/predict'
    ti = sig.inputs['input']
    ti.name = 'input:0'
    ti.dtype = DT_FLOAT
    for d in (-1, 224, 224, 3):
        ti.tensor_shape.dim.add().size = d
    to = sig.outputs['predict']
    to.name = 'predict:0'
    to.dtype = DT_FLOAT
    for d in (-1, 1001):
        to.tensor_shape.dim.add().size = d
    os.makedirs(os.path.join(out, 'variables'), exist_ok=True)
    with open(os.path.join(out, 'saved_model.pb'), 'wb') as f:
        f.write(sm.SerializeToString())


def tf_from_npz(npz, out):
    # A separate interpreter: other packages (OpenCV, pulled in by
    # torchvision) register their own "types.proto" in the default pool.
    W = dict(np.load(npz))
    with tempfile.TemporaryDirectory() as tmp:
        pb = load_protos(tmp)
        write_tf(W, pb, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--seed', type=int, default=50)
    ap.add_argument('--ref', default='')
    ap.add_argument('--no-onnx', action='store_true')
    ap.add_argument('--no-tf', action='store_true')
    ap.add_argument('--tf-dir', help='SavedModel directory (default OUT/tf/1), e.g. '
                    'model/resnet50-v15-fp32/1')
    ap.add_argument('--onnx-path', help='ONNX file (default OUT/onnx/model.onnx)')
    ap.add_argument('--tf-from', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.tf_from:
        tf_from_npz(a.tf_from, a.out)
        return
    import torch
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    m = make_model(a.seed)
    if not a.no_tf:
        with tempfile.TemporaryDirectory() as tmp:
            npz = os.path.join(tmp, 'w.npz')
            np.savez(npz, **{k: v.detach().numpy() for k, v in m.state_dict().items()
                             if v.dtype == torch.float32})
            subprocess.run([sys.executable, os.path.abspath(__file__), '--tf-from', npz,
                            a.tf_dir or os.path.join(a.out, 'tf', '1')], check=True)
    if not a.no_onnx:
        onnx_path = a.onnx_path or os.path.join(a.out, 'onnx', 'model.onnx')
        os.makedirs(os.path.dirname(os.path.abspath(onnx_path)), exist_ok=True)
        torch.onnx.export(m, torch.zeros(1, 3, 224, 224), onnx_path,
                          input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
                          opset_version=13, do_constant_folding=True)
    if a.ref:
        rd = os.path.join(a.out, 'ref')
        os.makedirs(rd, exist_ok=True)
        rng = np.random.RandomState(a.seed + 7)
        for b in [int(v) for v in a.ref.split(',') if v]:
            x = rng.uniform(-1.0, 1.0, size=(b, 224, 224, 3)).astype(np.float32)
            with torch.no_grad():
                logits = m(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            predict = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
            np.save(os.path.join(rd, 'input_b%d.npy' % b), x)
            np.save(os.path.join(rd, 'input_nchw_b%d.npy' % b),
                    np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            np.save(os.path.join(rd, 'logits_b%d.npy' % b), logits.astype(np.float32))
            np.save(os.path.join(rd, 'predict_b%d.npy' % b), predict)


if __name__ == '__main__':
    main()
