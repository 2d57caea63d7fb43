#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""scripts/gen_mlp.py end to end, at small sizes: the TF1 SavedModel it
writes (VariableV2 + RestoreV2/Assign saver graph, variables in a tensor
bundle) loads in ccinfer with the expected signature, and ccinfer's outputs
match the NumPy float64 forward pass within 1e-5 relative (max |a-b| over
the largest reference value) at batch 1 and 5; an index with many table
blocks and a deep stack of layers; generation is deterministic in the seed;
a flipped byte in the data shard is caught by the bundle's checksum.
Usage: mlp.py CCINFER GENERATOR"""
import filecmp
import os
import subprocess
import sys
import tempfile

import numpy as np

TOL = 1e-5


def main():
    ccinfer, gen = sys.argv[1:3]
    checks = fail = 0

    def check(name, ok, detail='', show=False):
        nonlocal checks, fail
        checks += 1
        if not ok:
            fail += 1
        print('%s %s%s' % ('ok  ' if ok else 'FAIL', name,
                            (': ' + detail) if detail and (not ok or show) else ''))

    def generate(out, sizes, *extra):
        r = subprocess.run([sys.executable, gen, out, '--sizes', sizes] + list(extra),
                           capture_output=True, text=True)
        check('generate %s' % (sizes if len(sizes) < 40 else sizes[:36] + '...'), r.returncode == 0,
              r.stderr.strip()[-300:])
        return r.returncode == 0

    def compare(name, base, b):
        od = os.path.join(base, 'out_b%d' % b)
        r = subprocess.run([ccinfer, 'run', os.path.join(base, '1'), '--input',
                            'input=' + os.path.join(base, 'ref', 'input_b%d.npy' % b),
                            '--output-dir', od], capture_output=True, text=True)
        if r.returncode != 0:
            check('%s batch %d' % (name, b), False, r.stderr.strip()[-300:])
            return
        got = np.load(os.path.join(od, 'output.npy'))
        want = np.load(os.path.join(base, 'ref', 'output_b%d.npy' % b))
        if got.shape != want.shape:
            check('%s batch %d' % (name, b), False, 'shape %s, expected %s' % (got.shape, want.shape))
            return
        err = float(np.abs(got - want).max() / np.abs(want).max())
        check('%s batch %d' % (name, b), err <= TOL, 'relative error %.3g' % err, show=True)

    with tempfile.TemporaryDirectory() as tmp:
        m = os.path.join(tmp, 'mlp')
        if generate(m, '24,40,33,7', '--ref', '1,5'):
            r = subprocess.run([ccinfer, 'info', os.path.join(m, '1')], capture_output=True,
                               text=True)
            info = r.stdout
            check('info: signature', r.returncode == 0 and "signature 'serving_default'" in info
                  and 'DT_FLOAT   [-1,24]  (input:0)' in info
                  and 'DT_FLOAT   [-1,7]  (output:0)' in info, (info + r.stderr)[-400:])
            check('info: TF1 variables and saver', 'VariableV2' in info and 'RestoreV2' in info
                  and 'Assign' in info, info[-400:])
            for b in (1, 5):
                compare('mlp 24-40-33-7', m, b)

        # 63 layers (126 variables) with 256-byte table blocks: many data
        # blocks, several index entries, restart points inside blocks.
        deep = os.path.join(tmp, 'deep')
        sizes = ','.join(str(5 + i % 7) for i in range(64))
        if generate(deep, sizes, '--ref', '3', '--index-block-size', '256'):
            compare('mlp 63 layers, 256-byte index blocks', deep, 3)

        # Determinism: same seed, same bytes; another seed, other weights.
        same, other = os.path.join(tmp, 'same'), os.path.join(tmp, 'other')
        if generate(same, '24,40,33,7') and generate(other, '24,40,33,7', '--seed', '8'):
            files = ['saved_model.pb', 'variables/variables.index',
                     'variables/variables.data-00000-of-00001']
            check('same seed, same files',
                  all(filecmp.cmp(os.path.join(m, '1', f), os.path.join(same, '1', f),
                                  shallow=False) for f in files))
            check('another seed, other weights',
                  not filecmp.cmp(os.path.join(m, '1', files[2]), os.path.join(other, '1', files[2]),
                                  shallow=False))

            # A flipped byte in the data shard must be refused.  (ccinfer
            # reports it as the signature failing to compile; the bundle's
            # "checksum mismatch" detail does not reach that message.)
            data = os.path.join(same, '1', files[2])
            raw = bytearray(open(data, 'rb').read())
            raw[len(raw) // 2] ^= 0x40
            open(data, 'wb').write(raw)
            np.save(os.path.join(tmp, 'x.npy'), np.zeros((1, 24), np.float32))
            r = subprocess.run([ccinfer, 'run', os.path.join(same, '1'), '--input',
                                'input=' + os.path.join(tmp, 'x.npy')], capture_output=True,
                               text=True)
            check('corrupt data shard refused', r.returncode == 1 and
                  "'serving_default'" in r.stderr, r.stderr.strip()[-300:], show=True)

        r = subprocess.run([sys.executable, gen, os.path.join(tmp, 'bad'), '--sizes', '8,x'],
                           capture_output=True, text=True)
        check('bad --sizes refused', r.returncode != 0 and '--sizes' in r.stderr,
              r.stderr.strip()[-200:])
    print('%d passed, %d failed' % (checks - fail, fail))
    return 1 if fail else 0


if __name__ == '__main__':
    sys.exit(main())
