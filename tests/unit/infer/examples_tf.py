#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""tf.Example signatures built here as SavedModels: ParseExample and
ParseExampleV2 with float and int64 dense features, defaults and a context
run through `ccinfer run --example` and give the expected values; parser
configurations the engine does not take (sparse, ragged, string features,
variable-length shapes, non-constant defaults) leave the signature
unavailable with the reason while the model still loads.
Usage: examples_tf.py CCINFER"""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_numpy as o  # noqa: E402

F32, I64, STR = 1, 9, 7


def main():
    cc = sys.argv[1]
    n = fail = 0

    def check(name, ok, detail=''):
        nonlocal n, fail
        n += 1
        if ok:
            print('ok   ' + name)
        else:
            fail += 1
            print('FAIL %s: %s' % (name, str(detail)[-600:]))

    with tempfile.TemporaryDirectory() as tmp:
        o.load_tf_protos(os.path.join(tmp, 'pb'))
        import graph_pb2  # noqa: E402
        import saved_model_pb2  # noqa: E402
        import example_pb2  # noqa: E402

        def strconst(tg, name, vals, scalar=False):
            nd = tg.g.node.add()
            nd.name, nd.op = name, 'Const'
            nd.attr['dtype'].type = STR
            t = nd.attr['value'].tensor
            t.dtype = STR
            if not scalar:
                t.tensor_shape.dim.add().size = len(vals)
            t.string_val.extend(vals)
            return name

        def set_types(nd, key, types):
            nd.attr[key].list.type.extend(types)
            if not types:
                nd.attr[key].list.SetInParent()

        def set_shapes(nd, key, shapes):
            for s in shapes:
                sh = nd.attr[key].list.shape.add()
                for d in s:
                    sh.dim.add().size = d

        def parser(tg, v2, dense, sparse=(), ragged=(), default_from=None):
            """dense: [(key, dtype, shape, default array or None)]"""
            strconst(tg, 'names', [])
            defs = []
            for i, (k, dt, shape, dv) in enumerate(dense):
                if default_from:
                    defs.append(default_from)
                elif dv is None:
                    defs.append(tg.const('def%d' % i, np.zeros((0,), np.float32 if dt == F32 else np.int64)))
                else:
                    defs.append(tg.const('def%d' % i, dv))
            if v2:
                ins = ['ser', 'names', strconst(tg, 'sk', [s.encode() for s in sparse]),
                       strconst(tg, 'dk', [d[0].encode() for d in dense]),
                       strconst(tg, 'rk', [r.encode() for r in ragged])] + defs
            else:
                ins = ['ser', 'names'] + [strconst(tg, 'sk%d' % i, [s.encode()], True)
                                          for i, s in enumerate(sparse)] + \
                      [strconst(tg, 'dk%d' % i, [d[0].encode()], True) for i, d in enumerate(dense)] + defs
            nd = tg.g.node.add()
            nd.name, nd.op = 'pe', 'ParseExampleV2' if v2 else 'ParseExample'
            nd.input.extend(ins)
            set_types(nd, 'Tdense', [d[1] for d in dense])
            set_shapes(nd, 'dense_shapes', [d[2] for d in dense])
            set_types(nd, 'sparse_types', [F32] * len(sparse))
            if v2:
                nd.attr['num_sparse'].i = len(sparse)
                set_types(nd, 'ragged_value_types', [F32] * len(ragged))
                set_types(nd, 'ragged_split_types', [I64] * len(ragged))
            else:
                nd.attr['Nsparse'].i = len(sparse)
                nd.attr['Ndense'].i = len(dense)
            return 3 * len(sparse)

        def save(name, tg, outs):
            d = os.path.join(tmp, name)
            os.makedirs(d)
            sm = saved_model_pb2.SavedModel()
            mg = sm.meta_graphs.add()
            mg.meta_info_def.tags.append('serve')
            mg.graph_def.CopyFrom(tg.g)
            sig = mg.signature_def['ex']
            sig.method_name = 'tensorflow/serving/regress'
            sig.inputs['inputs'].name, sig.inputs['inputs'].dtype = 'ser:0', STR
            sig.inputs['inputs'].tensor_shape.unknown_rank = True
            for k, (tn, dt) in outs.items():
                sig.outputs[k].name, sig.outputs[k].dtype = tn, dt
            p = mg.signature_def['serving_default']
            p.inputs['z'].name, p.inputs['z'].dtype = 'z:0', F32
            p.outputs['zz'].name, p.outputs['zz'].dtype = 'zz:0', F32
            with open(os.path.join(d, 'saved_model.pb'), 'wb') as f:
                f.write(sm.SerializeToString())
            return d

        def graph():
            tg = o.TF(graph_pb2)
            tg.ph('ser', STR)
            tg.ph('z')
            tg.node('zz', 'Identity', ['z'], T=('type', F32))
            return tg

        def example(path, **feats):
            e = example_pb2.Example()
            for k, v in feats.items():
                if isinstance(v[0], float):
                    e.features.feature[k].float_list.value.extend(v)
                else:
                    e.features.feature[k].int64_list.value.extend(v)
            with open(path, 'wb') as f:
                f.write(e.SerializeToString())
            return path

        def run(d, *args):
            return subprocess.run([cc, 'run', d, '--signature', 'ex'] + list(args),
                                  capture_output=True, text=True)

        e1 = example(os.path.join(tmp, 'e1'), a=[1.0, 2.0], b=[5])
        e2 = example(os.path.join(tmp, 'e2'), a=[3.0, 4.0])
        ctx = example(os.path.join(tmp, 'ctx'), b=[9])
        short = example(os.path.join(tmp, 'short'), a=[1.0])
        wrong = example(os.path.join(tmp, 'wrong'), a=[1, 2])
        for v2 in (False, True):
            tag = 'ParseExampleV2' if v2 else 'ParseExample'
            tg = graph()
            base = parser(tg, v2, [('a', F32, [2], None), ('b', I64, [1], np.array([7], np.int64))])
            tg.const('two', np.array(2.0, np.float32))
            tg.node('a2', 'Mul', ['pe:%d' % base, 'two'], T=('type', F32))
            tg.node('bo', 'Identity', ['pe:%d' % (base + 1)], T=('type', I64))
            d = save(tag, tg, {'a2': ('a2:0', F32), 'b': ('bo:0', I64)})
            r = subprocess.run([cc, 'info', d], capture_output=True, text=True)
            check(tag + ': info lists the features', r.returncode == 0 and
                  'a                        DT_FLOAT   [2]  required' in r.stdout and
                  'b                        DT_INT64   [1]  default' in r.stdout, r.stdout + r.stderr)
            r = run(d, '--example', e1, '--example', e2)
            check(tag + ': dense float + int64 with a default', r.returncode == 0 and
                  'a2 DT_FLOAT [2,2] 2 4 6 8' in r.stdout and 'b DT_INT64 [2,1] 5 7' in r.stdout,
                  r.stdout + r.stderr)
            r = run(d, '--example', e1, '--example', e2, '--context', ctx)
            check(tag + ': context', r.returncode == 0 and 'b DT_INT64 [2,1] 5 9' in r.stdout,
                  r.stdout + r.stderr)
            r = run(d, '--example', e1, '--example', short)
            check(tag + ': wrong count refused', r.returncode == 1 and
                  'Key: a, Index: 1.  Number of float values != expected.  Values size: 1 but output '
                  'shape: [2]' in r.stderr, r.stderr)
            r = run(d, '--example', wrong)
            check(tag + ': wrong kind refused', r.returncode == 1 and
                  "Data types don't match. Data type: int64 but expected type: float" in r.stderr, r.stderr)
            r = run(d, '--example', ctx)
            check(tag + ': required feature missing', r.returncode == 1 and
                  'Feature: a (data type: float) is required' in r.stderr, r.stderr)

        # configurations left unavailable, with the reason; the model loads
        cases = [
            ('sparse', False, dict(dense=[('a', F32, [1], None)], sparse=['s']), 'sparse features'),
            ('ragged', True, dict(dense=[('a', F32, [1], None)], ragged=['r']), 'ragged features'),
            ('string_feature', False, dict(dense=[('a', STR, [1], None)]), 'only DT_FLOAT and DT_INT64'),
            ('varlen', False, dict(dense=[('a', F32, [-1], None)]), 'fully defined dense shapes'),
            ('default_not_const', False, dict(dense=[('a', F32, [1], None)], default_from='z'),
             'dense default is not a constant'),
            ('default_wrong_size', False, dict(dense=[('a', F32, [2], np.array([1, 2, 3], np.float32))]),
             'does not match the dtype / dense shape'),
        ]
        for name, v2, kw, expect in cases:
            tg = graph()
            if name == 'string_feature':
                strconst(tg, 'def0', [b'x'])
                kw = dict(kw, default_from='def0')
            base = parser(tg, v2, **kw)
            tg.node('y', 'Identity', ['pe:%d' % base], T=('type', F32))
            d = save(name, tg, {'y': ('y:0', F32)})
            r = subprocess.run([cc, 'info', d], capture_output=True, text=True)
            line = [ln for ln in r.stdout.splitlines() if ln.startswith("signature 'ex'")]
            check(name + ': unavailable with the reason', r.returncode == 0 and line and
                  'UNAVAILABLE' in line[0] and expect in line[0], r.stdout + r.stderr)
    print('%d checks, %d failed' % (n, fail))
    return 1 if fail else 0


if __name__ == '__main__':
    sys.exit(main())
