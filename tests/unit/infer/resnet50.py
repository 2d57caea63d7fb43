#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ResNet-50 v1.5 end to end: the generator writes a TF SavedModel and an
ONNX export of the same random weights plus PyTorch fp32 references for
batch 1 and 4; ccinfer must match within 1e-4 relative (max |a-b| over the
largest reference value).  Usage: resnet50.py CCINFER GENERATOR WORKDIR"""
import os
import shutil
import subprocess
import sys

import numpy as np

TOL = 1e-4


def main():
    ccinfer, gen, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    subprocess.run([sys.executable, gen, work, '--ref', '1,4'], check=True)
    ref = os.path.join(work, 'ref')
    failures = 0
    checks = 0
    for fmt, model, inp, in_name, out_name, ref_name in (
            ('tf', os.path.join(work, 'tf', '1'), 'input_b%d.npy', 'input', 'predict',
             'predict_b%d.npy'),
            ('onnx', os.path.join(work, 'onnx', 'model.onnx'), 'input_nchw_b%d.npy',
             'input', 'logits', 'logits_b%d.npy')):
        for b in (1, 4):
            od = os.path.join(work, 'out_%s_b%d' % (fmt, b))
            subprocess.run([ccinfer, 'run', model, '--input',
                            '%s=%s' % (in_name, os.path.join(ref, inp % b)),
                            '--output-dir', od], check=True, stdout=subprocess.DEVNULL)
            got = np.load(os.path.join(od, out_name + '.npy'))
            want = np.load(os.path.join(ref, ref_name % b))
            checks += 1
            if got.shape != want.shape:
                print('FAIL %s batch %d: shape %s, expected %s' % (fmt, b, got.shape, want.shape))
                failures += 1
                continue
            err = float(np.abs(got - want).max() / np.abs(want).max())
            top = bool((got.argmax(1) == want.argmax(1)).all())
            ok = err <= TOL and top
            print('%s %s batch %d: relative error %.3g, top-1 %s' %
                  ('ok  ' if ok else 'FAIL', fmt, b, err, 'same' if top else 'DIFFERS'))
            failures += 0 if ok else 1
    shutil.rmtree(work, ignore_errors=True)
    print('%d passed, %d failed' % (checks - failures, failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
