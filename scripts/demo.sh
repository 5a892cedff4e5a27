#!/usr/bin/env bash
# The main job, set-up included: build the canonical ResNet-50 from specs/seed/resnet50.arch,
# show the tool's per-stage summary (receptive field, memory), and write its Keras model and generated Python source under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[keras]"
.venv/bin/resnet-dsl check specs
.venv/bin/resnet-dsl build specs/seed/resnet50.arch --save out/resnet50.keras
.venv/bin/resnet-dsl generate specs/seed/resnet50.arch -o out/resnet50.py
echo
echo "Built ResNet-50 from specs/seed/resnet50.arch:"
echo "  Keras model:      out/resnet50.keras"
echo "  generated source: out/resnet50.py  (from resnet50 import build_model)"
