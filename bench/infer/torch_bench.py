#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch 1.13 baseline for bench/infer: the same ResNet-50 weights as the
generated models (scripts/gen_resnet50.py make_model), fp32, in three
configurations: eager, eager channels_last, torch.jit.trace + freeze +
optimize_for_inference.  Run with jemalloc preloaded (bench_infer.py does).
Prints one JSON line per mode.  Usage:
  torch_bench.py --batch N --threads T --iterations K [--warmup W] [--smoke]"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'scripts'))
import numpy as np  # noqa: E402
import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--iterations', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--smoke', action='store_true')
    ap.add_argument('--modes', default='eager,channels_last,jit_freeze')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.smoke:
        m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(8, 10)).eval()
        size = 16
    else:
        import gen_resnet50
        m = gen_resnet50.make_model(50)
        size = 224
    x = torch.from_numpy(np.random.RandomState(0).rand(a.batch, 3, size, size).astype(np.float32))
    for mode in a.modes.split(','):
        with torch.no_grad():
            mm, xx = m, x
            if mode == 'channels_last':
                mm = m.to(memory_format=torch.channels_last)
                xx = x.contiguous(memory_format=torch.channels_last)
            elif mode == 'jit_freeze':
                mm = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(m, x)))
            lat = []
            for i in range(a.warmup + a.iterations):
                t0 = time.perf_counter()
                mm(xx)
                t1 = time.perf_counter()
                if i >= a.warmup:
                    lat.append((t1 - t0) * 1e3)
            lat.sort()
            print(json.dumps({'mode': mode, 'median_ms': lat[len(lat) // 2],
                              'p99_ms': lat[min(len(lat) - 1, int(len(lat) * 0.99))],
                              'images_per_s': a.batch * len(lat) / (sum(lat) / 1e3)}))
            sys.stdout.flush()


if __name__ == '__main__':
    main()
