#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Deterministic dense (MLP) test model with random weights.

Writes a TF1-style SavedModel, as tf.compat.v1.saved_model would export a
ranking/recommendation tower:

  OUT/VERSION/saved_model.pb   Placeholder 'input' [-1, D0] float32 ->
                               for each layer i: MatMul with a VariableV2
                               kernel [Di, Di+1] (read through Identity),
                               BiasAdd with a VariableV2 bias, Relu (not on
                               the last layer) -> Identity 'output'
                               [-1, Dn]; signature 'serving_default'
                               (predict): input 'input', output 'output';
                               a V2 saver graph (RestoreV2 + Assign nodes,
                               SaverDef) binding the variables to their
                               checkpoint keys.
  OUT/VERSION/variables/       the tensor bundle: variables.index (a sorted
                               string table holding the BundleHeaderProto
                               and one BundleEntryProto per variable, each
                               block with its masked CRC-32C) and
                               variables.data-00000-of-00001 (the raw
                               little-endian tensors, each with a CRC-32C).
  OUT/ref/                     with --ref B1,B4,...: input_bN.npy and
                               output_bN.npy, the NumPy float64 forward pass
                               of the same weights rounded to float32.

The default sizes 1024,4096,4096,1024 hold ~96 MB of weights: at batch 1
each request streams all of them from memory (GEMV), which is what makes
request batching pay on a CPU.  Weights are He-uniform from --seed, so the
activations stay O(1) through the layers.

Usage: gen_mlp.py OUT [--sizes 1024,4096,4096,1024] [--seed N]
                  [--version N] [--ref 1,4]
Needs python3-numpy, python3-protobuf, protobuf-compiler (protoc) and
python3-crcmod (CRC-32C)."""
import argparse
import os
import struct
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_resnet50 as r50  # noqa: E402  (load_protos, TFGraph)

DT_FLOAT, DT_STRING = 1, 7
MAX_FEATURES = 1 << 16
MAX_WEIGHT_BYTES = 4 << 30


def crc32c_fn():
    try:
        import crcmod.predefined
        return crcmod.predefined.mkCrcFun('crc-32c')
    except ImportError:
        pass
    # Without python3-crcmod: a table-driven CRC-32C (reflected 0x82F63B78),
    # fine for small models, minutes for the default size.
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)

    def crc(data):
        c = 0xffffffff
        for b in data:
            c = table[(c ^ b) & 0xff] ^ (c >> 8)
        return c ^ 0xffffffff
    print('gen_mlp.py: python3-crcmod not found, using a slow CRC-32C', file=sys.stderr)
    return crc


CRC32C = None


def masked_crc(data):
    c = CRC32C(data)
    return ((((c >> 15) | (c << 17)) & 0xffffffff) + 0xa282ead8) & 0xffffffff


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Block:
    """One table block: prefix-compressed entries, a restart point every
    16 entries, then the restart offsets and their count."""

    def __init__(self):
        self.buf = bytearray()
        self.restarts = [0]
        self.count = 0
        self.last = b''

    def add(self, key, value):
        shared = 0
        if self.count % 16 == 0:
            if self.count:
                self.restarts.append(len(self.buf))
        else:
            n = min(len(key), len(self.last))
            while shared < n and key[shared] == self.last[shared]:
                shared += 1
        self.buf += varint(shared) + varint(len(key) - shared) + varint(len(value))
        self.buf += key[shared:] + value
        self.last = key
        self.count += 1

    def size(self):
        return len(self.buf) + 4 * len(self.restarts) + 4

    def finish(self):
        return bytes(self.buf) + b''.join(struct.pack('<I', r) for r in self.restarts) + \
            struct.pack('<I', len(self.restarts))


def write_table(path, items, block_size=4096):
    """items: (key bytes, value bytes), keys strictly increasing."""
    out = bytearray()

    def put_block(data):
        off = len(out)
        out.extend(data)
        trailer = b'\x00'  # no compression
        out.extend(trailer + struct.pack('<I', masked_crc(data + trailer)))
        return varint(off) + varint(len(data))

    index = Block()
    blk = Block()
    for k, v in items:
        blk.add(k, v)
        if blk.size() >= block_size:
            index.add(blk.last, put_block(blk.finish()))
            blk = Block()
    if blk.count:
        index.add(blk.last, put_block(blk.finish()))
    meta_handle = put_block(Block().finish())
    index_handle = put_block(index.finish())
    footer = meta_handle + index_handle
    footer += b'\x00' * (40 - len(footer)) + struct.pack('<Q', 0xdb4775248b80fb57)
    out.extend(footer)
    with open(path, 'wb') as f:
        f.write(out)


def write_bundle(pb, prefix, tensors, block_size=4096):
    """tensors: {checkpoint key: float32 array}.  One data shard."""
    import tensor_bundle_pb2  # generated by load_protos
    entries = []
    with open(prefix + '.data-00000-of-00001', 'wb') as f:
        off = 0
        for key in sorted(tensors):
            a = np.ascontiguousarray(tensors[key], dtype='<f4')
            raw = a.tobytes()
            e = tensor_bundle_pb2.BundleEntryProto()
            e.dtype = DT_FLOAT
            for d in a.shape:
                e.shape.dim.add().size = d
            e.shard_id = 0
            e.offset = off
            e.size = len(raw)
            e.crc32c = masked_crc(raw)
            f.write(raw)
            off += len(raw)
            entries.append((key.encode(), e.SerializeToString(deterministic=True)))
    h = tensor_bundle_pb2.BundleHeaderProto()
    h.num_shards = 1
    h.endianness = tensor_bundle_pb2.BundleHeaderProto.LITTLE
    h.version.producer = 1
    write_table(prefix + '.index', [(b'', h.SerializeToString())] + entries, block_size)


def make_weights(sizes, seed):
    rng = np.random.RandomState(seed)
    W = {}
    for i in range(len(sizes) - 1):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        a = np.sqrt(6.0 / fan_in)
        W['dense_%d/kernel' % i] = rng.uniform(-a, a, size=(fan_in, fan_out)).astype(np.float32)
        W['dense_%d/bias' % i] = rng.uniform(-0.1, 0.1, size=(fan_out,)).astype(np.float32)
    return W


def forward(W, nlayers, x):
    y = x.astype(np.float64)
    for i in range(nlayers):
        y = y @ W['dense_%d/kernel' % i].astype(np.float64) + W['dense_%d/bias' % i]
        if i + 1 < nlayers:
            y = np.maximum(y, 0.0)
    return y.astype(np.float32)


def write_savedmodel(pb, out, sizes, W, block_size=4096):
    tg = r50.TFGraph(pb)
    x = tg.node('input', 'Placeholder', dtype=('type', DT_FLOAT),
                shape=('shape', [-1, sizes[0]]))
    nl = len(sizes) - 1
    var_shapes = {}
    for i in range(nl):
        nm = 'dense_%d' % i
        reads = []
        for v, shape in (('kernel', [sizes[i], sizes[i + 1]]), ('bias', [sizes[i + 1]])):
            vn = tg.node('%s/%s' % (nm, v), 'VariableV2', dtype=('type', DT_FLOAT),
                         shape=('shape', shape), container=b'', shared_name=b'')
            var_shapes[vn] = shape
            reads.append(tg.node(vn + '/read', 'Identity', [vn], T=('type', DT_FLOAT),
                                 _class=b'loc:@' + vn.encode()))
        x = tg.node(nm + '/MatMul', 'MatMul', [x, reads[0]], T=('type', DT_FLOAT),
                    transpose_a=False, transpose_b=False)
        x = tg.node(nm + '/BiasAdd', 'BiasAdd', [x, reads[1]], T=('type', DT_FLOAT),
                    data_format=b'NHWC')
        if i + 1 < nl:
            x = tg.node(nm + '/Relu', 'Relu', [x], T=('type', DT_FLOAT))
    tg.node('output', 'Identity', [x], T=('type', DT_FLOAT))
    # The class attribute above is a list(string) in TensorFlow's exports.
    for n in tg.g.node:
        if '_class' in n.attr:
            s = n.attr['_class'].s
            n.attr['_class'].ClearField('s')
            n.attr['_class'].list.s.append(s)

    # The saver: what tf.compat.v1.train.Saver (V2 format) adds.
    names = sorted(var_shapes)
    fn_in = tg.const('save/filename/input', np.array('model'))
    fn = tg.node('save/filename', 'PlaceholderWithDefault', [fn_in],
                 dtype=('type', DT_STRING), shape=('shape', []))
    fconst = tg.node('save/Const', 'PlaceholderWithDefault', [fn],
                     dtype=('type', DT_STRING), shape=('shape', []))
    tn = tg.const('save/SaveV2/tensor_names', names)
    ss = tg.const('save/SaveV2/shape_and_slices', [''] * len(names))
    sv = tg.node('save/SaveV2', 'SaveV2', [fconst, tn, ss] + names)
    tg.g.node[-1].attr['dtypes'].list.type.extend([DT_FLOAT] * len(names))
    tg.node('save/control_dependency', 'Identity', [fconst, '^' + sv], T=('type', DT_STRING),
            _class=b'')
    tg.g.node[-1].attr['_class'].ClearField('s')
    tg.g.node[-1].attr['_class'].list.s.append(b'loc:@save/Const')
    rn = tg.const('save/RestoreV2/tensor_names', names)
    rs = tg.const('save/RestoreV2/shape_and_slices', [''] * len(names))
    rv = tg.node('save/RestoreV2', 'RestoreV2', [fconst, rn, rs])
    tg.g.node[-1].attr['dtypes'].list.type.extend([DT_FLOAT] * len(names))
    assigns = []
    for k, vn in enumerate(names):
        assigns.append(tg.node('save/Assign' + ('_%d' % k if k else ''), 'Assign',
                               [vn, rv + (':%d' % k if k else '')], T=('type', DT_FLOAT),
                               use_locking=True, validate_shape=True))
    tg.node('save/restore_all', 'NoOp', ['^' + a for a in assigns])

    sm = pb.SavedModel()
    sm.saved_model_schema_version = 1
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append('serve')
    mg.meta_info_def.tensorflow_version = '2.11.0'
    mg.graph_def.CopyFrom(tg.g)
    mg.saver_def.filename_tensor_name = 'save/Const:0'
    mg.saver_def.save_tensor_name = 'save/control_dependency:0'
    mg.saver_def.restore_op_name = 'save/restore_all'
    mg.saver_def.max_to_keep = 5
    mg.saver_def.keep_checkpoint_every_n_hours = 10000.0
    mg.saver_def.version = 2  # V2
    sig = mg.signature_def['serving_default']
    sig.method_name = 'tensorflow/serving/predict'
    ti = sig.inputs['input']
    ti.name = 'input:0'
    ti.dtype = DT_FLOAT
    for d in (-1, sizes[0]):
        ti.tensor_shape.dim.add().size = d
    to = sig.outputs['output']
    to.name = 'output:0'
    to.dtype = DT_FLOAT
    for d in (-1, sizes[-1]):
        to.tensor_shape.dim.add().size = d
    os.makedirs(os.path.join(out, 'variables'), exist_ok=True)
    write_bundle(pb, os.path.join(out, 'variables', 'variables'), W, block_size)
    with open(os.path.join(out, 'saved_model.pb'), 'wb') as f:
        f.write(sm.SerializeToString(deterministic=True))  # map order: same seed, same bytes


def parse_sizes(s):
    try:
        sizes = [int(v) for v in s.split(',')]
    except ValueError:
        sys.exit('gen_mlp.py: --sizes: comma-separated integers expected, got %r' % s)
    if len(sizes) < 2 or len(sizes) > 64 or any(v < 1 or v > MAX_FEATURES for v in sizes):
        sys.exit('gen_mlp.py: --sizes: 2 to 64 widths, each 1..%d' % MAX_FEATURES)
    total = sum(4 * (sizes[i] * sizes[i + 1] + sizes[i + 1]) for i in range(len(sizes) - 1))
    if total > MAX_WEIGHT_BYTES:
        sys.exit('gen_mlp.py: --sizes: %d bytes of weights exceed the %d-byte cap'
                 % (total, MAX_WEIGHT_BYTES))
    return sizes


def main():
    global CRC32C
    ap = argparse.ArgumentParser(description='Write a random-weight MLP as a TF1 SavedModel.')
    ap.add_argument('out', help='model base directory (the version directory goes inside)')
    ap.add_argument('--sizes', default='1024,4096,4096,1024',
                    help='layer widths, input first (default 1024,4096,4096,1024)')
    ap.add_argument('--seed', type=int, default=7)
    ap.add_argument('--version', type=int, default=1)
    ap.add_argument('--ref', default='', help='batch sizes for NumPy references in OUT/ref')
    # Table block size of variables.index (tests use small blocks to get
    # several data blocks and index entries).
    ap.add_argument('--index-block-size', type=int, default=4096, help=argparse.SUPPRESS)
    a = ap.parse_args()
    sizes = parse_sizes(a.sizes)
    if a.version < 0:
        sys.exit('gen_mlp.py: --version must be >= 0')
    CRC32C = crc32c_fn()
    W = make_weights(sizes, a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        pb = r50.load_protos(tmp)
        write_savedmodel(pb, os.path.join(a.out, str(a.version)), sizes, W,
                         max(64, a.index_block_size))
    if a.ref:
        rd = os.path.join(a.out, 'ref')
        os.makedirs(rd, exist_ok=True)
        rng = np.random.RandomState(a.seed + 1)
        try:
            batches = [int(v) for v in a.ref.split(',') if v]
        except ValueError:
            sys.exit('gen_mlp.py: --ref: comma-separated batch sizes expected, got %r' % a.ref)
        if any(b < 1 or b > 4096 for b in batches):
            sys.exit('gen_mlp.py: --ref: batch sizes must be 1..4096')
        for b in batches:
            x = rng.uniform(-1.0, 1.0, size=(b, sizes[0])).astype(np.float32)
            np.save(os.path.join(rd, 'input_b%d.npy' % b), x)
            np.save(os.path.join(rd, 'output_b%d.npy' % b), forward(W, len(sizes) - 1, x))


if __name__ == '__main__':
    main()
