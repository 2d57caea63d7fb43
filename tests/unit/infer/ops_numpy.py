#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Per-op checks of the engine against NumPy references.

Each case builds a one- or few-op model (TF frozen GraphDef written through
proto/tf with python3-protobuf, or ONNX through python3-onnx), runs it with
`ccinfer run` on random inputs with odd sizes and compares with a NumPy
reference under a per-op error bound.  Covers TF SAME (asymmetric) / VALID
/ explicit padding, strides, dilations, depthwise and grouped convs.
Usage: ops_numpy.py CCINFER"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_TF = os.path.join(HERE, '..', '..', '..', 'proto', 'tf')
F32, I32, I64 = 1, 3, 9
RNG = np.random.RandomState(1234)


def load_tf_protos(tmp):
    os.makedirs(tmp, exist_ok=True)
    protos = [f for f in os.listdir(PROTO_TF) if f.endswith('.proto')]
    subprocess.run(['protoc', '-I', PROTO_TF, '--python_out', tmp] +
                   [os.path.join(PROTO_TF, p) for p in protos], check=True)
    sys.path.insert(0, tmp)
    import graph_pb2  # noqa: E402
    return graph_pb2


class TF:
    def __init__(self, pb):
        self.g = pb.GraphDef()

    def node(self, name, op, inputs=(), **attrs):
        n = self.g.node.add()
        n.name, n.op = name, op
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
            else:
                raise TypeError(k)
        return name

    def const(self, name, arr):
        arr = np.array(arr, order='C')  # keeps 0-d arrays 0-d
        dt = {np.dtype('float32'): F32, np.dtype('int32'): I32,
              np.dtype('int64'): I64}[arr.dtype]
        n = self.g.node.add()
        n.name, n.op = name, 'Const'
        n.attr['dtype'].type = dt
        t = n.attr['value'].tensor
        t.dtype = dt
        for d in arr.shape:
            t.tensor_shape.dim.add().size = d
        t.tensor_content = arr.tobytes()
        return name

    def ph(self, name, dt=F32):
        return self.node(name, 'Placeholder', dtype=('type', dt))


# ---------------------------------------------------------------- references

def same_pads(n, k, s, d):
    ek = (k - 1) * d + 1
    out = (n + s - 1) // s
    tot = max((out - 1) * s + ek - n, 0)
    return tot // 2, tot - tot // 2


def conv_ref(x, w_hwio, stride, dil, pads, groups=1):
    """x NHWC, w [KH,KW,C/g,O]; pads (t,b,l,r)."""
    x = np.pad(x, ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]), (0, 0)))
    n, h, wd, c = x.shape
    kh, kw, ci, o = w_hwio.shape
    oh = (h - ((kh - 1) * dil[0] + 1)) // stride[0] + 1
    ow = (wd - ((kw - 1) * dil[1] + 1)) // stride[1] + 1
    out = np.zeros((n, oh, ow, o), np.float64)
    og = o // groups
    for g in range(groups):
        xs = x[..., g * ci:(g + 1) * ci].astype(np.float64)
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, i * dil[0]: i * dil[0] + (oh - 1) * stride[0] + 1: stride[0],
                           j * dil[1]: j * dil[1] + (ow - 1) * stride[1] + 1: stride[1], :]
                out[..., g * og:(g + 1) * og] += patch @ w_hwio[i, j, :, g * og:(g + 1) * og]
    return out.astype(np.float32)


def pool_ref(x, k, s, pads, mx, include_pad=False):
    n, h, w, c = x.shape
    oh = (h + pads[0] + pads[1] - k[0]) // s[0] + 1
    ow = (w + pads[2] + pads[3] - k[1]) // s[1] + 1
    out = np.zeros((n, oh, ow, c), np.float32)
    for i in range(oh):
        for j in range(ow):
            y0, x0 = i * s[0] - pads[0], j * s[1] - pads[2]
            ys, xs = max(y0, 0), max(x0, 0)
            ye, xe = min(y0 + k[0], h), min(x0 + k[1], w)
            win = x[:, ys:ye, xs:xe, :]
            if mx:
                out[:, i, j, :] = win.max(axis=(1, 2))
            else:
                cnt = k[0] * k[1] if include_pad else (ye - ys) * (xe - xs)
                out[:, i, j, :] = win.sum(axis=(1, 2)) / cnt
    return out


# ------------------------------------------------------------------- runner

class Runner:
    def __init__(self, ccinfer, tmp):
        self.ccinfer, self.tmp = ccinfer, tmp
        self.n = self.fail = 0

    def run(self, name, model_dir, inputs, outputs, refs, tol, env=None, expect=None):
        """env: extra environment for ccinfer; expect: text its debug log
        must contain (e.g. which convolution path the plan took)."""
        self.n += 1
        args = [self.ccinfer, 'run', model_dir, '--output-dir', os.path.join(model_dir, 'out')]
        for k, v in inputs.items():
            p = os.path.join(model_dir, 'in_%s.npy' % k.replace('/', '_'))
            np.save(p, v)
            args += ['--input', '%s=%s' % (k, p)]
        full_env = None
        if env or expect:
            full_env = dict(os.environ, **(env or {}))
            if expect:
                full_env['CCINFER_LOG'] = 'debug'
        r = subprocess.run(args, capture_output=True, text=True, env=full_env)
        if r.returncode:
            print('FAIL %s: ccinfer exited %d: %s' % (name, r.returncode, r.stderr.strip()))
            self.fail += 1
            return
        for o, ref in zip(outputs, refs):
            got = np.load(os.path.join(model_dir, 'out', o.replace('/', '_').replace(':', '_') + '.npy'))
            ref = np.asarray(ref)
            if got.shape != ref.shape:
                print('FAIL %s: shape %s, expected %s' % (name, got.shape, ref.shape))
                self.fail += 1
                return
            if ref.dtype.kind == 'f':
                scale = max(float(np.abs(ref).max()) if ref.size else 0.0, 1.0)
                err = float(np.abs(got.astype(np.float64) - ref).max()) / scale if ref.size else 0.0
                if not err <= tol:
                    print('FAIL %s: error %.3g above %.1g' % (name, err, tol))
                    self.fail += 1
                    return
            elif not np.array_equal(got, ref):
                print('FAIL %s: values differ' % name)
                self.fail += 1
                return
        if expect and expect not in r.stderr:
            print('FAIL %s: log lacks %r' % (name, expect))
            self.fail += 1
            return
        print('ok   %s' % name)

    def tf(self, name, build, inputs, outputs, refs, tol=1e-5, env=None, expect=None):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        tg = TF(self.pb)
        build(tg)
        with open(os.path.join(d, 'frozen_graph.pb'), 'wb') as f:
            f.write(tg.g.SerializeToString())
        self.run(name, d, inputs, outputs, refs, tol, env, expect)

    def onnx(self, name, nodes, inputs, outputs, refs, inits=(), tol=1e-5, opset=13):
        import onnx
        from onnx import helper, numpy_helper, TensorProto
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        tp = {np.dtype('float32'): TensorProto.FLOAT, np.dtype('int64'): TensorProto.INT64}
        gi = [helper.make_tensor_value_info(k, tp[v.dtype], list(v.shape))
              for k, v in inputs.items()]
        go = [helper.make_tensor_value_info(o, tp[np.asarray(r).dtype], None)
              for o, r in zip(outputs, refs)]
        g = helper.make_graph(nodes, name, gi, go,
                              [numpy_helper.from_array(v, k) for k, v in inits])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid('', opset)])
        onnx.save(m, os.path.join(d, 'model.onnx'))
        self.run(name, d, inputs, outputs, refs, tol)


def rnd(*shape):
    return RNG.uniform(-1, 1, size=shape).astype(np.float32)


def tf_cases(R):
    # Conv2D: SAME (asymmetric for even sizes and stride 2), VALID, explicit,
    # strides, dilations, odd sizes.
    for (h, w, c, o, k, s, d, pad) in [(7, 9, 3, 5, 3, 1, 1, b'SAME'), (8, 8, 4, 6, 3, 2, 1, b'SAME'),
                                       (9, 6, 2, 3, 5, 2, 1, b'SAME'), (11, 7, 3, 4, 3, 1, 2, b'SAME'),
                                       (10, 9, 3, 4, 3, 2, 1, b'VALID'), (6, 7, 5, 8, 1, 1, 1, b'VALID'),
                                       (9, 9, 3, 2, 3, 3, 2, b'VALID'), (8, 6, 3, 4, 4, 2, 1, b'SAME')]:
        x, wt = rnd(2, h, w, c), rnd(k, k, c, o)
        pads = ((same_pads(h, k, s, d) + same_pads(w, k, s, d)) if pad == b'SAME'
                else (0, 0, 0, 0))
        ref = conv_ref(x, wt, (s, s), (d, d), pads)

        def b(tg, wt=wt, s=s, d=d, pad=pad):
            tg.node('y', 'Conv2D', [tg.ph('x'), tg.const('w', wt)], T=('type', F32),
                    strides=('ints', [1, s, s, 1]), dilations=('ints', [1, d, d, 1]),
                    padding=pad, data_format=b'NHWC')
        R.tf('conv2d_%dx%d_k%d_s%d_d%d_%s' % (h, w, k, s, d, pad.decode()), b, {'x': x},
             ['y'], [ref], 1e-5)
    # explicit padding
    x, wt = rnd(1, 7, 8, 3), rnd(3, 3, 3, 4)
    R.tf('conv2d_explicit', lambda tg: tg.node(
        'y', 'Conv2D', [tg.ph('x'), tg.const('w', wt)], T=('type', F32),
        strides=('ints', [1, 2, 1, 1]), padding=b'EXPLICIT',
        explicit_paddings=('ints', [0, 0, 2, 1, 0, 3, 0, 0]), data_format=b'NHWC'),
        {'x': x}, ['y'], [conv_ref(x, wt, (2, 1), (1, 1), (2, 1, 0, 3))])
    # depthwise with multiplier 2, SAME stride 2
    x, wt = rnd(2, 9, 8, 4), rnd(3, 3, 4, 2)
    pads = same_pads(9, 3, 2, 1) + same_pads(8, 3, 2, 1)
    wg = np.zeros((3, 3, 1, 8), np.float32)
    for ch in range(4):
        for m in range(2):
            wg[:, :, 0, ch * 2 + m] = wt[:, :, ch, m]
    R.tf('depthwise_same_s2', lambda tg: tg.node(
        'y', 'DepthwiseConv2dNative', [tg.ph('x'), tg.const('w', wt)], T=('type', F32),
        strides=('ints', [1, 2, 2, 1]), padding=b'SAME', data_format=b'NHWC'),
        {'x': x}, ['y'], [conv_ref(x, wg, (2, 2), (1, 1), pads, groups=4)])
    # conv + bias + BN + relu6 chain (folding and fusion)
    x, wt, bias = rnd(1, 7, 7, 3), rnd(3, 3, 3, 5), rnd(5)
    g_, be, mu, var = rnd(5) + 1.5, rnd(5), rnd(5), np.abs(rnd(5)) + 0.5
    y = conv_ref(x, wt, (1, 1), (1, 1), (1, 1, 1, 1)) + bias
    y = np.clip((y - mu) / np.sqrt(var + 1e-3) * g_ + be, 0, 6)

    def bnb(tg):
        c = tg.node('c', 'Conv2D', [tg.ph('x'), tg.const('w', wt)], T=('type', F32),
                    strides=('ints', [1, 1, 1, 1]), padding=b'SAME')
        c = tg.node('b', 'BiasAdd', [c, tg.const('bias', bias)], T=('type', F32))
        c = tg.node('bn', 'FusedBatchNormV3', [c, tg.const('g', g_), tg.const('be', be),
                                               tg.const('mu', mu), tg.const('var', var)],
                    T=('type', F32), epsilon=1e-3, is_training=False)
        tg.node('y', 'Relu6', [c], T=('type', F32))
    R.tf('conv_bias_bn_relu6', bnb, {'x': x}, ['y'], [y], 1e-5)
    # residual add + relu fused into the second conv
    x, w1, w2 = rnd(1, 6, 5, 4), rnd(1, 1, 4, 4), rnd(3, 3, 4, 4)
    a = conv_ref(x, w1, (1, 1), (1, 1), (0, 0, 0, 0))
    y = np.maximum(conv_ref(a, w2, (1, 1), (1, 1), (1, 1, 1, 1)) + a, 0)

    def resb(tg):
        a1 = tg.node('a', 'Conv2D', [tg.ph('x'), tg.const('w1', w1)], T=('type', F32),
                     strides=('ints', [1, 1, 1, 1]), padding=b'VALID')
        c = tg.node('c', 'Conv2D', [a1, tg.const('w2', w2)], T=('type', F32),
                    strides=('ints', [1, 1, 1, 1]), padding=b'SAME')
        s = tg.node('s', 'AddV2', [c, a1], T=('type', F32))
        tg.node('y', 'Relu', [s], T=('type', F32))
    R.tf('conv_residual_relu', resb, {'x': x}, ['y'], [y], 1e-5)
    # BatchNorm that folds into nothing (it reads a graph input), with more
    # channels than the kernel's per-chunk table (512): the unfused kernel.
    x = rnd(2, 3, 1030)
    g_, be, mu, var = rnd(1030) + 1.5, rnd(1030), rnd(1030), np.abs(rnd(1030)) + 0.5
    R.tf('batchnorm_unfused_1030ch', lambda tg: tg.node(
        'y', 'FusedBatchNormV3', [tg.ph('x'), tg.const('g', g_), tg.const('be', be),
                                  tg.const('mu', mu), tg.const('var', var)],
        T=('type', F32), epsilon=1e-3, is_training=False),
        {'x': x}, ['y'], [(x - mu) / np.sqrt(var + 1e-3) * g_ + be], 1e-5)
    # a chain in oneDNN's blocked layouts with channel counts that are not
    # a multiple of the block (3 -> 5 -> 7): conv + relu, max pool, conv,
    # conv + residual + relu, a value read both by a conv and by a
    # reference kernel (plain copy), a residual that is a graph input
    # (reordered into the conv's layout) and intermediate graph outputs
    x, w1, w2, w3, w4 = rnd(2, 9, 8, 3), rnd(3, 3, 3, 5), rnd(1, 1, 5, 7), rnd(3, 3, 7, 7), rnd(1, 1, 3, 3)
    a = np.maximum(conv_ref(x, w1, (1, 1), (1, 1), (1, 1, 1, 1)), 0)
    pl = pool_ref(a, (3, 3), (2, 2), same_pads(9, 3, 2, 1) + same_pads(8, 3, 2, 1), True)
    bb = conv_ref(pl, w2, (1, 1), (1, 1), (0, 0, 0, 0))
    y = np.maximum(conv_ref(bb, w3, (1, 1), (1, 1), (1, 1, 1, 1)) + bb, 0)
    z = conv_ref(x, w4, (1, 1), (1, 1), (0, 0, 0, 0)) + x

    def chain(tg):
        xin = tg.ph('x')
        c = tg.node('a', 'Conv2D', [xin, tg.const('w1', w1)], T=('type', F32),
                    strides=('ints', [1, 1, 1, 1]), padding=b'SAME')
        c = tg.node('ar', 'Relu', [c], T=('type', F32))
        c = tg.node('p', 'MaxPool', [c], T=('type', F32), ksize=('ints', [1, 3, 3, 1]),
                    strides=('ints', [1, 2, 2, 1]), padding=b'SAME')
        tg.node('q', 'Identity', [c], T=('type', F32))
        b1 = tg.node('b', 'Conv2D', [c, tg.const('w2', w2)], T=('type', F32),
                     strides=('ints', [1, 1, 1, 1]), padding=b'VALID')
        c = tg.node('c', 'Conv2D', [b1, tg.const('w3', w3)], T=('type', F32),
                    strides=('ints', [1, 1, 1, 1]), padding=b'SAME')
        c = tg.node('s', 'AddV2', [c, b1], T=('type', F32))
        tg.node('y', 'Relu', [c], T=('type', F32))
        tg.node('t', 'Tanh', [b1], T=('type', F32))
        d = tg.node('d', 'Conv2D', [xin, tg.const('w4', w4)], T=('type', F32),
                    strides=('ints', [1, 1, 1, 1]), padding=b'VALID')
        tg.node('z', 'AddV2', [d, xin], T=('type', F32))
    R.tf('layout_chain_odd_channels', chain, {'x': x}, ['y', 't', 'z', 'q'],
         [y, np.tanh(bb), z, pl], 1e-5)
    # zero Pad + VALID max pool: folded into the pool's padding after a
    # ReLU (the zeros never win), kept as a Pad on a tensor that can be
    # negative; global mean / max over H, W of a conv output (oneDNN
    # pooling on the blocked layout) with 5 channels
    x, w1 = rnd(2, 8, 7, 3), rnd(3, 3, 3, 5)
    a = conv_ref(x, w1, (1, 1), (1, 1), (1, 1, 1, 1))
    ar = np.maximum(a, 0)
    padded = np.pad(ar, ((0, 0), (1, 1), (1, 1), (0, 0)))
    padx = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    zero = (0, 0, 0, 0)

    def padpool(tg):
        xin = tg.ph('x')
        pads = tg.const('pads', np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))
        c = tg.node('a', 'Conv2D', [xin, tg.const('w1', w1)], T=('type', F32),
                    strides=('ints', [1, 1, 1, 1]), padding=b'SAME')
        r = tg.node('ar', 'Relu', [c], T=('type', F32))
        pr = tg.node('pr', 'Pad', [r, pads], T=('type', F32), Tpaddings=('type', I32))
        tg.node('y', 'MaxPool', [pr], T=('type', F32), ksize=('ints', [1, 3, 3, 1]),
                strides=('ints', [1, 2, 2, 1]), padding=b'VALID')
        px = tg.node('px', 'Pad', [xin, pads], T=('type', F32), Tpaddings=('type', I32))
        tg.node('z', 'MaxPool', [px], T=('type', F32), ksize=('ints', [1, 3, 3, 1]),
                strides=('ints', [1, 2, 2, 1]), padding=b'VALID')
        tg.node('m', 'Mean', [c, tg.const('ax', np.array([1, 2], np.int32))],
                T=('type', F32), keep_dims=False)
        tg.node('mx', 'Max', [r, tg.const('ax2', np.array([1, 2], np.int32))],
                T=('type', F32), keep_dims=True)
    R.tf('pad_maxpool_global_pool', padpool, {'x': x}, ['y', 'z', 'm', 'mx'],
         [pool_ref(padded, (3, 3), (2, 2), zero, True), pool_ref(padx, (3, 3), (2, 2), zero, True),
          a.mean(axis=(1, 2)), ar.max(axis=(1, 2), keepdims=True)], 1e-5)
    # pools, SAME (asymmetric) and VALID
    for mx in (True, False):
        for (h, w, k, s, pad) in [(7, 8, 3, 2, b'SAME'), (9, 9, 2, 2, b'VALID'), (6, 5, 3, 1, b'SAME')]:
            x = rnd(2, h, w, 3)
            pads = ((same_pads(h, k, s, 1) + same_pads(w, k, s, 1)) if pad == b'SAME'
                    else (0, 0, 0, 0))
            op = 'MaxPool' if mx else 'AvgPool'
            R.tf('%s_%dx%d_k%d_s%d_%s' % (op, h, w, k, s, pad.decode()),
                 lambda tg, op=op, k=k, s=s, pad=pad: tg.node(
                     'y', op, [tg.ph('x')], T=('type', F32), ksize=('ints', [1, k, k, 1]),
                     strides=('ints', [1, s, s, 1]), padding=pad),
                 {'x': x}, ['y'], [pool_ref(x, (k, k), (s, s), pads, mx)])
    # elementwise and broadcasting
    x, yv = rnd(3, 1, 5), rnd(4, 1)
    for op, fn in [('AddV2', np.add), ('Sub', np.subtract), ('Mul', np.multiply),
                   ('RealDiv', lambda a, b: a / (b + 2)), ('Maximum', np.maximum),
                   ('Minimum', np.minimum), ('SquaredDifference', lambda a, b: (a - b) ** 2)]:
        yy = yv + 2 if op == 'RealDiv' else yv
        R.tf('binary_%s' % op, lambda tg, op=op, yy=yy: tg.node(
            'y', op, [tg.ph('x'), tg.const('c', yy)], T=('type', F32)),
            {'x': x}, ['y'], [fn(x, yv)], 1e-6)
    x = rnd(2, 3, 7) * 4
    for op, fn in [('Relu', lambda v: np.maximum(v, 0)), ('Relu6', lambda v: np.clip(v, 0, 6)),
                   ('Sigmoid', lambda v: 1 / (1 + np.exp(-v))), ('Tanh', np.tanh),
                   ('Elu', lambda v: np.where(v > 0, v, np.exp(v) - 1)),
                   ('Softplus', lambda v: np.log1p(np.exp(v))), ('Exp', np.exp),
                   ('Abs', np.abs), ('Neg', np.negative), ('Square', np.square),
                   ('Rsqrt', lambda v: 1 / np.sqrt(np.abs(v) + 1))]:
        xi = np.abs(x) + 1 if op == 'Rsqrt' else x
        R.tf('unary_%s' % op, lambda tg, op=op: tg.node('y', op, [tg.ph('x')], T=('type', F32)),
             {'x': xi}, ['y'], [fn(x)], 1e-5)
    R.tf('unary_LeakyRelu', lambda tg: tg.node('y', 'LeakyRelu', [tg.ph('x')], T=('type', F32),
                                               alpha=0.3),
         {'x': x}, ['y'], [np.where(x >= 0, x, 0.3 * x)], 1e-6)
    # reductions, softmax, matmul
    x = rnd(2, 5, 3, 7)
    R.tf('mean_hw', lambda tg: tg.node('y', 'Mean', [tg.ph('x'), tg.const('a', np.array([1, 2], np.int32))],
                                       T=('type', F32), keep_dims=False),
         {'x': x}, ['y'], [x.mean(axis=(1, 2))], 1e-6)
    R.tf('sum_keep', lambda tg: tg.node('y', 'Sum', [tg.ph('x'), tg.const('a', np.array([-1], np.int32))],
                                        T=('type', F32), keep_dims=True),
         {'x': x}, ['y'], [x.sum(axis=-1, keepdims=True)], 1e-5)
    x = rnd(3, 11) * 5
    e = np.exp(x - x.max(1, keepdims=True))
    R.tf('softmax', lambda tg: tg.node('y', 'Softmax', [tg.ph('x')], T=('type', F32)),
         {'x': x}, ['y'], [e / e.sum(1, keepdims=True)], 1e-6)
    a, wm, bm = rnd(3, 13), rnd(13, 7), rnd(7)
    R.tf('matmul_bias_relu', lambda tg: tg.node('y', 'Relu', [tg.node(
        'b', 'BiasAdd', [tg.node('m', 'MatMul', [tg.ph('x'), tg.const('w', wm)], T=('type', F32)),
                         tg.const('bias', bm)], T=('type', F32))], T=('type', F32)),
        {'x': a}, ['y'], [np.maximum(a @ wm + bm, 0)], 1e-5)
    R.tf('matmul_transpose_b', lambda tg: tg.node(
        'y', 'MatMul', [tg.ph('x'), tg.const('w', np.ascontiguousarray(wm.T))], T=('type', F32),
        transpose_b=True), {'x': a}, ['y'], [a @ wm], 1e-5)
    # shape manipulation
    x = rnd(2, 3, 4, 5)
    R.tf('pad_mirror_reflect', lambda tg: tg.node(
        'y', 'MirrorPad', [tg.ph('x'), tg.const('p', np.array([[0, 0], [1, 2], [2, 1], [0, 0]], np.int32))],
        T=('type', F32), mode=b'REFLECT'),
        {'x': x}, ['y'], [np.pad(x, ((0, 0), (1, 2), (2, 1), (0, 0)), mode='reflect')], 0)
    R.tf('pad_constant', lambda tg: tg.node(
        'y', 'PadV2', [tg.ph('x'), tg.const('p', np.array([[1, 0], [0, 2], [1, 1], [0, 0]], np.int32)),
                       tg.const('v', np.array(1.5, np.float32))], T=('type', F32)),
        {'x': x}, ['y'], [np.pad(x, ((1, 0), (0, 2), (1, 1), (0, 0)), constant_values=1.5)], 0)
    R.tf('concat_axis3', lambda tg: tg.node(
        'y', 'ConcatV2', [tg.ph('x'), tg.const('c', x[..., :2] * 2), tg.const('a', np.array(3, np.int32))],
        T=('type', F32), N=2),
        {'x': x}, ['y'], [np.concatenate([x, x[..., :2] * 2], axis=3)], 0)
    R.tf('transpose', lambda tg: tg.node(
        'y', 'Transpose', [tg.ph('x'), tg.const('p', np.array([0, 3, 1, 2], np.int32))], T=('type', F32)),
        {'x': x}, ['y'], [x.transpose(0, 3, 1, 2)], 0)
    R.tf('reshape_infer', lambda tg: tg.node(
        'y', 'Reshape', [tg.ph('x'), tg.const('s', np.array([-1, 20], np.int32))], T=('type', F32)),
        {'x': x}, ['y'], [x.reshape(-1, 20)], 0)
    R.tf('shape_driven_reshape', lambda tg: tg.node('y', 'Reshape', [tg.ph('x'), tg.node(
        'pk', 'Pack', [tg.node('g', 'StridedSlice', [tg.node('sh', 'Shape', ['x'], T=('type', F32)),
                                                   tg.const('b', np.array([0], np.int32)),
                                                   tg.const('e', np.array([1], np.int32)),
                                                   tg.const('st', np.array([1], np.int32))],
                               T=('type', I32), Index=('type', I32), shrink_axis_mask=1),
                       tg.const('m1', np.array(-1, np.int32))], T=('type', I32), N=2, axis=0)],
        T=('type', F32)), {'x': x}, ['y'], [x.reshape(2, -1)], 0)
    R.tf('strided_slice', lambda tg: tg.node(
        'y', 'StridedSlice', [tg.ph('x'), tg.const('b', np.array([0, 1, -1], np.int32)),
                              tg.const('e', np.array([0, 3, 0], np.int32)),
                              tg.const('s', np.array([1, 1, -2], np.int32))],
        T=('type', F32), Index=('type', I32), begin_mask=1, end_mask=5),
        {'x': x}, ['y'], [x[:, 1:3, ::-2]], 0)
    x = rnd(2, 1, 3)
    R.tf('squeeze_expand', lambda tg: tg.node('y', 'ExpandDims', [tg.node(
        'q', 'Squeeze', [tg.ph('x')], T=('type', F32), squeeze_dims=('ints', [1])),
        tg.const('d', np.array(-1, np.int32))], T=('type', F32)),
        {'x': x}, ['y'], [x.reshape(2, 3)[..., None]], 0)
    x = rnd(4, 9)
    R.tf('argmax', lambda tg: tg.node('y', 'ArgMax', [tg.ph('x'), tg.const('a', np.array(1, np.int32))],
                                      T=('type', F32), output_type=('type', I64)),
         {'x': x}, ['y'], [x.argmax(1).astype(np.int64)], 0)
    R.tf('gather_cast', lambda tg: tg.node('y', 'Cast', [tg.node(
        'g', 'GatherV2', [tg.ph('x'), tg.const('i', np.array([3, 0, 3], np.int32)),
                          tg.const('a', np.array(1, np.int32))], Tparams=('type', F32))],
        SrcT=('type', F32), DstT=('type', I32)),
        {'x': x * 10}, ['y'], [(x * 10)[:, [3, 0, 3]].astype(np.int32)], 0)


def onnx_cases(R):
    from onnx import helper
    x, w, b = rnd(2, 4, 9, 7), rnd(6, 2, 3, 3), rnd(6)
    xn = x.transpose(0, 2, 3, 1)
    whwio = w.transpose(2, 3, 1, 0)
    ref = conv_ref(xn, whwio, (2, 1), (1, 2), (1, 0, 2, 1), groups=2) + b
    R.onnx('onnx_conv_grouped_pads', [helper.make_node(
        'Conv', ['x', 'w', 'b'], ['y'], group=2, strides=[2, 1], dilations=[1, 2],
        pads=[1, 2, 0, 1])], {'x': x}, ['y'], [ref.transpose(0, 3, 1, 2)],
        inits=[('w', w), ('b', b)])
    ref = conv_ref(xn, whwio, (2, 2), (1, 1), same_pads(9, 3, 2, 1)[::-1] + same_pads(7, 3, 2, 1)[::-1],
                   groups=2)
    R.onnx('onnx_conv_same_lower', [helper.make_node(
        'Conv', ['x', 'w'], ['y'], group=2, strides=[2, 2], auto_pad='SAME_LOWER')],
        {'x': x}, ['y'], [ref.transpose(0, 3, 1, 2)], inits=[('w', w)])
    # conv -> BN -> HardSwish -> GAP -> Flatten -> Gemm -> Softmax
    x, w = rnd(2, 3, 8, 7), rnd(5, 3, 3, 3)
    sc, bi, mu, va = rnd(5) + 1.5, rnd(5), rnd(5), np.abs(rnd(5)) + 0.5
    gw, gb = rnd(4, 5), rnd(4)
    y = conv_ref(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), (1, 1), (1, 1), (1, 1, 1, 1))
    y = (y - mu) / np.sqrt(va + 1e-5) * sc + bi
    y = y * np.clip(y / 6 + 0.5, 0, 1)
    y = y.mean(axis=(1, 2)) @ gw.T + gb
    e = np.exp(y - y.max(1, keepdims=True))
    R.onnx('onnx_classifier_head', [
        helper.make_node('Conv', ['x', 'w'], ['c'], pads=[1, 1, 1, 1]),
        helper.make_node('BatchNormalization', ['c', 'sc', 'bi', 'mu', 'va'], ['n']),
        helper.make_node('HardSwish', ['n'], ['h']),
        helper.make_node('GlobalAveragePool', ['h'], ['p']),
        helper.make_node('Flatten', ['p'], ['f']),
        helper.make_node('Gemm', ['f', 'gw', 'gb'], ['g'], transB=1),
        helper.make_node('Softmax', ['g'], ['y'])], {'x': x}, ['y'],
        [e / e.sum(1, keepdims=True)],
        inits=[('w', w), ('sc', sc), ('bi', bi), ('mu', mu), ('va', va), ('gw', gw), ('gb', gb)])
    # NHWC-stored values through broadcasting, concat, pooling, reduce
    x, w = rnd(1, 4, 6, 5), rnd(4, 4, 1, 1)
    cb = rnd(1, 4, 1, 1)
    c1 = conv_ref(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), (1, 1), (1, 1), (0, 0, 0, 0))
    c1 = c1.transpose(0, 3, 1, 2)
    m = c1 * cb
    cat = np.concatenate([m, np.maximum(m, 0)], axis=1)
    pl = pool_ref(cat.transpose(0, 2, 3, 1), (2, 2), (2, 2), (0, 0, 0, 1), False, True)
    red = pl.transpose(0, 3, 1, 2).mean(axis=(2, 3), keepdims=True)
    R.onnx('onnx_layout_chain', [
        helper.make_node('Conv', ['x', 'w'], ['c']),
        helper.make_node('Mul', ['c', 'cb'], ['m']),
        helper.make_node('Relu', ['m'], ['r']),
        helper.make_node('Concat', ['m', 'r'], ['cat'], axis=1),
        helper.make_node('AveragePool', ['cat'], ['pl'], kernel_shape=[2, 2], strides=[2, 2],
                         pads=[0, 0, 0, 1], count_include_pad=1),
        helper.make_node('ReduceMean', ['pl'], ['y'], axes=[2, 3])],
        {'x': x}, ['y'], [red], inits=[('w', w), ('cb', cb)])
    x = rnd(2, 3, 4) * 3
    sl = rnd(3, 1)
    R.onnx('onnx_prelu_clip', [helper.make_node('PRelu', ['x', 's'], ['p']),
                               helper.make_node('Clip', ['p', 'lo', 'hi'], ['y'])],
           {'x': x}, ['y'], [np.clip(np.where(x >= 0, x, x * sl), -0.5, 1.0)],
           inits=[('s', sl), ('lo', np.array(-0.5, np.float32)), ('hi', np.array(1.0, np.float32))])
    R.onnx('onnx_transpose_reshape_slice', [
        helper.make_node('Transpose', ['x'], ['t'], perm=[2, 0, 1]),
        helper.make_node('Reshape', ['t', 'shp'], ['r']),
        helper.make_node('Slice', ['r', 'st', 'en', 'ax', 'sp'], ['y'])],
        {'x': x}, ['y'], [x.transpose(2, 0, 1).reshape(4, 6)[1:4, 5:0:-2]],
        inits=[('shp', np.array([4, -1], np.int64)), ('st', np.array([1, 5], np.int64)),
               ('en', np.array([4, 0], np.int64)), ('ax', np.array([0, 1], np.int64)),
               ('sp', np.array([1, -2], np.int64))])
    x = rnd(2, 6, 5, 3)
    e = np.exp(x.reshape(2, -1) - x.reshape(2, -1).max(1, keepdims=True))
    R.onnx('onnx_softmax_opset11_axis1', [helper.make_node('Softmax', ['x'], ['y'], axis=1)],
           {'x': x}, ['y'], [(e / e.sum(1, keepdims=True)).reshape(x.shape)], opset=11)
    R.onnx('onnx_argmax_keepdims', [helper.make_node('ArgMax', ['x'], ['y'], axis=2)],
           {'x': x}, ['y'], [x.argmax(2)[:, :, None, :].astype(np.int64)])


def winograd_cases(R):
    """3x3 stride-1 convs through the Winograd F(4x4,3x3) and F(2x2,3x3)
    kernels (forced with CCINFER_WINOGRAD=4 / 2 where the size rule would
    not pick them): output sizes that are not multiples of the tile, 1x1
    outputs, SAME / VALID / explicit asymmetric pads, batches, bias and
    each fused activation they take; the plan's log must name the path."""
    import platform
    if platform.machine() not in ('x86_64', 'AMD64') or 'avx2' not in open('/proc/cpuinfo').read():
        print('skip winograd cases: no AVX2 here')
        return
    none = 'Winograd: 0 F(4x4), 0 F(2x2)'
    acts = {'none': (None, lambda y: y), 'relu': ('Relu', lambda y: np.maximum(y, 0)),
            'relu6': ('Relu6', lambda y: np.clip(y, 0, 6)),
            'leaky': ('LeakyRelu', lambda y: np.where(y >= 0, y, 0.2 * y))}
    for (n, h, w, c, o, pads, act) in [
            (1, 7, 9, 8, 16, 'SAME', 'relu'), (2, 5, 6, 16, 32, 'VALID', 'none'),
            (1, 3, 3, 8, 16, 'VALID', 'relu6'), (3, 13, 11, 24, 48, 'SAME', 'leaky'),
            (1, 6, 5, 8, 16, (0, 2, 1, 0), 'relu'), (2, 4, 7, 16, 16, (2, 2, 2, 1), 'none'),
            (1, 1, 1, 8, 16, (1, 1, 1, 1), 'relu')]:
        x, wt, bias = rnd(n, h, w, c), rnd(3, 3, c, o), rnd(o)
        if isinstance(pads, str):
            p = (same_pads(h, 3, 1, 1) + same_pads(w, 3, 1, 1)) if pads == 'SAME' else (0, 0, 0, 0)
        else:
            p = pads
        op, f = acts[act]
        ref = f(conv_ref(x, wt, (1, 1), (1, 1), p) + bias)

        def b(tg, wt=wt, bias=bias, pads=pads, op=op):
            kw = dict(T=('type', F32), strides=('ints', [1, 1, 1, 1]), data_format=b'NHWC')
            if isinstance(pads, str):
                kw['padding'] = pads.encode()
            else:
                kw['padding'] = b'EXPLICIT'
                kw['explicit_paddings'] = ('ints', [0, 0, pads[0], pads[1], pads[2], pads[3], 0, 0])
            c_ = tg.node('c', 'Conv2D', [tg.ph('x'), tg.const('w', wt)], **kw)
            c_ = tg.node('b' if op else 'y', 'BiasAdd', [c_, tg.const('bias', bias)], T=('type', F32))
            if op == 'LeakyRelu':
                tg.node('y', op, [c_], T=('type', F32), alpha=0.2)
            elif op:
                tg.node('y', op, [c_], T=('type', F32))
        tag = pads if isinstance(pads, str) else 'pads%d%d%d%d' % pads
        for m, expect in (('4', 'Winograd: 1 F(4x4), 0 F(2x2)'),
                          ('2', 'Winograd: 0 F(4x4), 1 F(2x2)')):
            R.tf('winograd%s_n%d_%dx%d_c%d_o%d_%s_%s' % (m, n, h, w, c, o, tag, act), b,
                 {'x': x}, ['y'], [ref], 2e-5, {'CCINFER_WINOGRAD': m}, expect)
    # two chained Winograd convs (the second reads the first's nChw8c
    # output directly) by default: enough tiles for the size rule
    x, w1, w2 = rnd(1, 32, 30, 16), rnd(3, 3, 16, 32), rnd(3, 3, 32, 16)
    a = np.maximum(conv_ref(x, w1, (1, 1), (1, 1), (1, 1, 1, 1)), 0)
    y = conv_ref(a, w2, (1, 1), (1, 1), (1, 1, 1, 1))

    def chain(tg):
        c_ = tg.node('c', 'Conv2D', [tg.ph('x'), tg.const('w1', w1)], T=('type', F32),
                     strides=('ints', [1, 1, 1, 1]), padding=b'SAME')
        c_ = tg.node('r', 'Relu', [c_], T=('type', F32))
        tg.node('y', 'Conv2D', [c_, tg.const('w2', w2)], T=('type', F32),
                strides=('ints', [1, 1, 1, 1]), padding=b'SAME')
    R.tf('winograd_chain_default', chain, {'x': x}, ['y'], [y], 2e-5, None,
         'Winograd: 2 F(4x4), 0 F(2x2)')
    R.tf('winograd_chain_off', chain, {'x': x}, ['y'], [y], 1e-5, {'CCINFER_WINOGRAD': '0'},
         none)
    # the size rule: F(2x2) when F(4x4) makes fewer than 16 tiles and
    # F(2x2) does not (8x8: 4 and 16 tiles), oneDNN below that (6x6)
    for hw, expect in ((8, 'Winograd: 0 F(4x4), 1 F(2x2)'), (6, none)):
        x, wt = rnd(1, hw, hw, 16), rnd(3, 3, 16, 16)

        def small(tg, wt=wt):
            tg.node('y', 'Conv2D', [tg.ph('x'), tg.const('w', wt)], T=('type', F32),
                    strides=('ints', [1, 1, 1, 1]), padding=b'SAME')
        ref = conv_ref(x, wt, (1, 1), (1, 1), (1, 1, 1, 1))
        R.tf('winograd_rule_%dx%d' % (hw, hw), small, {'x': x}, ['y'], [ref], 2e-5, None, expect)
    # channels the kernels do not block (12 in, 20 out): oneDNN
    x, wt = rnd(1, 20, 20, 12), rnd(3, 3, 12, 20)
    ref = conv_ref(x, wt, (1, 1), (1, 1), (1, 1, 1, 1))

    def odd(tg):
        tg.node('y', 'Conv2D', [tg.ph('x'), tg.const('w', wt)], T=('type', F32),
                strides=('ints', [1, 1, 1, 1]), padding=b'SAME')
    R.tf('winograd_odd_channels_forced', odd, {'x': x}, ['y'], [ref], 1e-5,
         {'CCINFER_WINOGRAD': '4'}, none)


def main():
    ccinfer = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        R = Runner(ccinfer, tmp)
        R.pb = load_tf_protos(os.path.join(tmp, 'pb'))
        tf_cases(R)
        winograd_cases(R)
        onnx_cases(R)
        print('%d passed, %d failed' % (R.n - R.fail, R.fail))
        return 1 if R.fail else 0


if __name__ == '__main__':
    sys.exit(main())
