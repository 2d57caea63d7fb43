#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench/infer: ResNet-50 v1.5 fp32 with ccinfer vs ONNX Runtime
(onnxruntime-node) vs PyTorch 1.13, same weights, same run.

  bench_infer.py CCINFER [--work DIR] [--batches 1,8,32] [--threads 1,2]
                 [--iterations K] [--rounds R] [--smoke]

Full run: generates the models (scripts/gen_resnet50.py) unless WORK holds
them, installs onnxruntime-node into bench/out/infer-node (setup.sh) when
missing, checks that ccinfer's ONNX outputs match ONNX Runtime's on the
same input, then measures latency (median, p99) and images/s for each
batch size and thread count, the sum of the standalone oneDNN convolution
times (the near-limit bound) and prints a Markdown table with the ratios the
targets are stated in.  PyTorch runs with jemalloc preloaded.

--rounds R (default 1) measures every (threads, batch) point R times, the
runners taking turns within each round, so that drift of a shared machine
hits all of them alike; the table then gives each runner's median over the
rounds, and each ratio is the median of the per-round ratios (the
per-round values are printed too).

--smoke: a tiny conv net through the same three runners, seconds, nothing
judged (ONNX Runtime is skipped when it is not installed)."""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

import numpy as np
from statistics import median

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
NODE_DIR = os.path.join(ROOT, 'bench', 'out', 'infer-node')
JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'


def sh(args, env=None, check=True):
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    if check and r.returncode:
        raise RuntimeError('%s failed (%d): %s' % (' '.join(args[:3]), r.returncode,
                                                   r.stderr.strip()[-2000:]))
    return r.stdout


def kv(line):
    return dict(p.split('=', 1) for p in line.split())


def ccinfer_bench(cc, model, batch, threads, iters, profile=False):
    args = [cc, 'bench', model, '--batch', str(batch), '--threads', str(threads),
            '--iterations', str(iters), '--warmup', '2']
    if profile:
        args.append('--profile')
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get('OMP_WAIT_POLICY', 'active'))
    out = sh(args, env=env).strip().splitlines()
    res = kv(out[0])
    if profile:
        res.update(kv(out[1]))
    return res


def ort_available():
    return os.path.exists(os.path.join(NODE_DIR, 'node_modules', 'onnxruntime-node', 'package.json'))


def ort_bench(model, batch, threads, iters, shape=None):
    args = ['node', os.path.join(HERE, 'ort_bench.js'), NODE_DIR, model, '--batch', str(batch),
            '--threads', str(threads), '--iterations', str(iters), '--warmup', '2']
    if shape:
        args += ['--shape', shape]
    return json.loads(sh(args).strip().splitlines()[-1])


def torch_bench(batch, threads, iters, smoke=False):
    env = dict(os.environ)
    if os.path.exists(JEMALLOC):
        env['LD_PRELOAD'] = JEMALLOC
        env['MALLOC_CONF'] = 'dirty_decay_ms:-1,muzzy_decay_ms:-1'
    args = ['/usr/bin/python3', os.path.join(HERE, 'torch_bench.py'), '--batch', str(batch),
            '--threads', str(threads), '--iterations', str(iters), '--warmup', '2']
    if smoke:
        args.append('--smoke')
    return [json.loads(l) for l in sh(args, env=env).strip().splitlines()]


def smoke(cc):
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.RandomState(0)
        g = helper.make_graph(
            [helper.make_node('Conv', ['input', 'w'], ['c'], pads=[1, 1, 1, 1]),
             helper.make_node('Relu', ['c'], ['r']),
             helper.make_node('GlobalAveragePool', ['r'], ['p']),
             helper.make_node('Flatten', ['p'], ['f']),
             helper.make_node('Gemm', ['f', 'fw', 'fb'], ['logits'], transB=1)],
            'smoke', [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['N', 3, 16, 16])],
            [helper.make_tensor_value_info('logits', TensorProto.FLOAT, None)],
            [numpy_helper.from_array(rng.rand(8, 3, 3, 3).astype(np.float32), 'w'),
             numpy_helper.from_array(rng.rand(10, 8).astype(np.float32), 'fw'),
             numpy_helper.from_array(np.zeros(10, np.float32), 'fb')])
        path = os.path.join(tmp, 'model.onnx')
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), path)
        print('ccinfer', ccinfer_bench(cc, path, 2, 1, 2, profile=True))
        if ort_available():
            print('onnxruntime', ort_bench(path, 2, 1, 2, shape='3,16,16'))
        else:
            print('onnxruntime: not installed (bench/infer/setup.sh), skipped')
        try:
            print('pytorch', torch_bench(2, 1, 2, smoke=True))
        except (RuntimeError, OSError) as e:
            print('pytorch: skipped (%s)' % e)
    print('smoke: 1 passed, 0 failed')
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('ccinfer')
    ap.add_argument('--work', default=os.path.join(ROOT, 'bench', 'out', 'infer'))
    ap.add_argument('--batches', default='1,8,32')
    ap.add_argument('--threads', default='1,2')
    ap.add_argument('--iterations', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=1)
    ap.add_argument('--smoke', action='store_true')
    a = ap.parse_args()
    if a.smoke:
        return smoke(a.ccinfer)
    work = a.work
    tf_model = os.path.join(work, 'tf', '1')
    onnx_model = os.path.join(work, 'onnx', 'model.onnx')
    if not (os.path.exists(os.path.join(tf_model, 'saved_model.pb')) and os.path.exists(onnx_model)):
        sh(['/usr/bin/python3', os.path.join(ROOT, 'scripts', 'gen_resnet50.py'), work, '--ref', '1'])
    if not ort_available():
        sh(['bash', os.path.join(HERE, 'setup.sh'), NODE_DIR])
    # ONNX file: ccinfer vs ONNX Runtime on the same input
    ref = os.path.join(work, 'ref', 'input_nchw_b1.npy')
    if os.path.exists(ref):
        od = os.path.join(work, 'cmp')
        sh([a.ccinfer, 'run', onnx_model, '--input', 'input=' + ref, '--output-dir', od])
        sh(['node', os.path.join(HERE, 'ort_bench.js'), NODE_DIR, onnx_model, '--input', ref,
            '--output', os.path.join(od, 'ort.bin')])
        ours = np.load(os.path.join(od, 'logits.npy')).ravel()
        theirs = np.fromfile(os.path.join(od, 'ort.bin'), dtype=np.float32)
        err = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
        print('ONNX outputs vs ONNX Runtime: max relative error %.3g (%s)' %
              (err, 'ok' if err <= 1e-4 else 'MISMATCH'))
    if a.rounds < 1:
        ap.error('--rounds must be >= 1')
    rounds = []  # per round: rows and conv bounds
    for k in range(a.rounds):
        rows = []
        bound = {}
        for t in [int(v) for v in a.threads.split(',')]:
            for b in [int(v) for v in a.batches.split(',')]:
                it = max(2, a.iterations if b == 1 else a.iterations // (2 if b <= 8 else 4))
                prof = t == max(int(v) for v in a.threads.split(',')) and b in (1, 32)
                r = ccinfer_bench(a.ccinfer, tf_model, b, t, it, profile=prof)
                rows.append(('ccinfer (SavedModel)', b, t, r['median_ms'], r['p99_ms'],
                             r['images_per_s']))
                if prof:
                    bound[b] = (float(r['median_ms']), float(r['conv_bound_ms']))
                r = ccinfer_bench(a.ccinfer, onnx_model, b, t, it)
                rows.append(('ccinfer (ONNX)', b, t, r['median_ms'], r['p99_ms'], r['images_per_s']))
                r = ort_bench(onnx_model, b, t, it)
                rows.append(('onnxruntime-node', b, t, r['median_ms'], r['p99_ms'],
                             r['images_per_s']))
                for r in torch_bench(b, t, it):
                    rows.append(('pytorch ' + r['mode'], b, t, r['median_ms'], r['p99_ms'],
                                 r['images_per_s']))
                sys.stdout.flush()
        rounds.append((rows, bound))
        if a.rounds > 1:
            print('round %d of %d done' % (k + 1, a.rounds))
            sys.stdout.flush()
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(l.split(':', 1)[1].strip() for l in f if l.startswith('model name'))
    except (OSError, StopIteration):
        pass
    print('\nmachine: %s, %d CPUs, load average %s' % (cpu, os.cpu_count(),
                                                      ' '.join(open('/proc/loadavg').read().split()[:3])))
    print('| runner | batch | threads | median ms | p99 ms | images/s |')
    print('|---|---|---|---|---|---|')
    for i, r in enumerate(rounds[0][0]):
        col = [[float(rr[0][i][c]) for rr in rounds] for c in (3, 4, 5)]
        print('| %s | %d | %d | %.2f | %.2f | %.2f |' % (r[0], r[1], r[2], median(col[0]),
                                                       median(col[1]), median(col[2])))

    def best(rows, name_prefix, b, t, key, lo):
        vals = [float(r[3] if key == 'lat' else r[5]) for r in rows
                if r[0].startswith(name_prefix) and r[1] == b and r[2] == t]
        return (min(vals) if lo else max(vals)) if vals else float('nan')
    tmax = max(int(v) for v in a.threads.split(','))
    bs = [int(v) for v in a.batches.split(',')]
    ratios = {'ort1': [], 'pt1': [], 'tput': [], 1: [], 32: []}
    for rows, bound in rounds:
        ours1 = best(rows, 'ccinfer (SavedModel)', 1, tmax, 'lat', True)
        ratios['ort1'].append(ours1 / best(rows, 'onnxruntime', 1, tmax, 'lat', True))
        ratios['pt1'].append(ours1 / best(rows, 'pytorch', 1, tmax, 'lat', True))
        ours_t = max(best(rows, 'ccinfer (SavedModel)', b, tmax, 'ips', False) for b in bs)
        ort_t = max(best(rows, 'onnxruntime', b, tmax, 'ips', False) for b in bs)
        ratios['tput'].append(ours_t / ort_t)
        for b, (whole, conv) in bound.items():
            ratios[b].append(whole / conv)

    def show(v):
        s = '%.2f' % median(v)
        return s + (' (rounds: %s)' % ', '.join('%.2f' % x for x in v) if len(v) > 1 else '')
    print('\nbatch-1 latency, %d threads: ccinfer/ORT = %s (target <= 0.95)' %
          (tmax, show(ratios['ort1'])))
    print('batch-1 latency, %d threads: ccinfer/PyTorch best = %s (target <= 0.75)' %
          (tmax, show(ratios['pt1'])))
    print('best throughput: ccinfer/ORT = %s (target >= 1.1)' % show(ratios['tput']))
    for b in (1, 32):
        if ratios[b]:
            print('batch %d: whole graph / conv bound = %s (target <= 1.2)' % (b, show(ratios[b])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
