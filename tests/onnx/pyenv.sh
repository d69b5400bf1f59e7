#!/bin/sh
# pyenv.sh — makes build/pyenv, a Python venv with the pinned packages of requirements.txt
# (once: a stamp holding the requirements marks it done; later runs reuse it). Prints the
# venv's python on success; exits 1 with the reason when the environment cannot be made.
root=$(cd "$(dirname "$0")/../.." && pwd)
env="$root/build/pyenv"
req="$root/tests/onnx/requirements.txt"
if [ -x "$env/bin/python" ] && cmp -s "$req" "$env/stamp" 2>/dev/null; then
    echo "$env/bin/python"
    exit 0
fi
py=$(command -v python3) || { echo "pyenv: no python3 (Debian: python3, python3-venv)" >&2; exit 1; }
rm -rf "$env"
"$py" -m venv "$env" >&2 || { echo "pyenv: python3 -m venv failed (Debian: python3-venv)" >&2; exit 1; }
"$env/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2 ||
    { echo "pyenv: pip install -r $req failed" >&2; rm -rf "$env"; exit 1; }
cp "$req" "$env/stamp"
echo "$env/bin/python"
