#!/usr/bin/env bash
# The whole test suite, set-up included: a virtual environment with the package and its
# keras, torch, onnx and test extras; the programs some tests drive (Graphviz, Neovim, Node's npm
# tools for the VS Code extension); then lint (ruff) and every test (pytest). Extra arguments
# go to pytest, which runs one worker per core (PYTEST_WORKERS=N to choose). Without root, what cannot be installed is named in one line, and its tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where the environment says PYTHONDONTWRITEBYTECODE, every process the tests start (each CLI run,
# each worker) would compile the package's and the tests' sources again: let Python cache them.
unset PYTHONDONTWRITEBYTECODE
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[keras,torch,onnx,test]"

# System packages: dot (pictures), nvim (the editor test), node + npm (the VS Code extension's tests).
missing=()
command -v dot >/dev/null || missing+=(graphviz)
command -v nvim >/dev/null || missing+=(neovim)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "scripts/test.sh: skipping the tests that need ${missing[*]} (not root): sudo apt-get install ${missing[*]}"
  fi
fi

# npm tools, into .cache/editor-tools (ignored by git): VS Code's grammar engine, vsce, and the
# extension's own dependency, pinned; installed once.
if command -v npm >/dev/null; then
  tools=.cache/editor-tools
  if [ ! -x "$tools/node_modules/.bin/vsce" ] || [ ! -d "$tools/node_modules/vscode-oniguruma" ]; then
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
      vscode-textmate@9.3.2 vscode-oniguruma@2.0.1 @vscode/vsce@3.9.2 >/dev/null
  fi
  if [ ! -d "$tools/vscode/node_modules/vscode-languageclient" ]; then
    mkdir -p "$tools/vscode" && cp editors/vscode/package.json "$tools/vscode/"
    npm install --prefix "$tools/vscode" --omit=dev --no-audit --no-fund --loglevel=error >/dev/null
  fi
fi

.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
# One pytest worker per core (pytest-xdist); `-n 0` in the arguments runs them in one process.
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" "$@"
