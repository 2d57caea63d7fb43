#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Installs ONNX Runtime for Node.js (npm onnxruntime-node, its prebuilt CPU
# library) into a bench-local folder, bench/out/infer-node, never into a
# global path.  The package's install script only fetches GPU extras from
# outside the npm registry, so it is skipped.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:-$here/../out/infer-node}"
mkdir -p "$dest"
if [ -f "$dest/node_modules/onnxruntime-node/package.json" ]; then
	echo "setup: onnxruntime-node already in $dest"
	exit 0
fi
cd "$dest"
[ -f package.json ] || echo '{"name":"ccserve-bench-infer","private":true}' > package.json
npm install --no-audit --no-fund --ignore-scripts onnxruntime-node@1.30.0
echo "setup: onnxruntime-node installed in $dest"
