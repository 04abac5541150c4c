#!/usr/bin/env bash
# Regenerate requirements.lock: every Python package setup.sh installs (pyproject.toml with the
# extras all, dev and ray, plus the build backend), each at one exact version with its sha256
# hashes. Run it after changing a dependency in pyproject.toml, then commit the lock:
#
#   make lock                          # re-resolve; versions already in the lock are kept if they still fit
#   make lock LOCK_ARGS=--upgrade      # newest versions of everything (then run make test)
#   make lock LOCK_ARGS="--upgrade-package numpy"
#
# The resolver is uv (pinned in scripts/lock-tools.txt, installed hash-checked into .venv-lock/).
# It asks the package registry for versions and hashes; torch is the CPU build 2.13.0+cpu
# (scripts/lock-constraints.txt), whose wheel comes from $TORCH_FIND_LINKS (default /opt/wheels).
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=requirements.lock
TOOLS=${LOCK_TOOLS:-.venv-lock}
FIND_LINKS=${TORCH_FIND_LINKS:-/opt/wheels}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

if ! ls "$FIND_LINKS"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
  echo "lock: no torch-2.13.0+cpu wheel in $FIND_LINKS (set TORCH_FIND_LINKS to the folder that has it)" >&2
  exit 1
fi

uv_version=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' scripts/lock-tools.txt)
if ! "$TOOLS/bin/uv" --version 2>/dev/null | grep -qx "uv $uv_version.*"; then
  echo "lock: installing uv $uv_version into $TOOLS"
  [ -x "$TOOLS/bin/python" ] || "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q --require-hashes -r scripts/lock-tools.txt 2>&1 | grep -v "^WARNING: Location" >&2 || true
  "$TOOLS/bin/uv" --version >/dev/null
fi

# The build backend is installed from the lock too (setup.sh builds the project without isolation).
mkdir -p .venv-lock   # a fixed relative path: it is named in the lock's annotations
"$PY" - >.venv-lock/build-requirements.in <<'PYEOF'
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))
PYEOF

extras=()
for e in $("$PY" -c 'import sys; sys.path.insert(0, "scripts"); import lockfile; print(*lockfile.EXTRAS)'); do
  extras+=(--extra "$e")
done

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
[ -f "$LOCK" ] && cp "$LOCK" "$tmp"   # uv keeps the versions of an existing output file where they still fit
"$TOOLS/bin/uv" pip compile pyproject.toml .venv-lock/build-requirements.in "${extras[@]}" \
  --constraint scripts/lock-constraints.txt \
  --find-links "$FIND_LINKS" \
  --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --custom-compile-command "make lock" \
  --quiet --output-file "$tmp" "$@"

# Refuse a lock that would pull a CUDA build or its libraries.
if ! grep -q '^torch==2\.13\.0+cpu ' "$tmp"; then
  echo "lock: the resolution did not pin torch==2.13.0+cpu; not writing $LOCK" >&2; exit 1
fi
if grep -Eq '^(nvidia-|cuda-|triton==)' "$tmp"; then
  echo "lock: the resolution pulled CUDA packages: $(grep -Eo '^(nvidia-|cuda-|triton)[^=]*' "$tmp" | tr '\n' ' ')" >&2; exit 1
fi
grep -v '^# inputs-sha256:' "$tmp" >"$LOCK"
echo "# inputs-sha256: $("$PY" scripts/lockfile.py inputs-hash)" >>"$LOCK"
echo "lock: wrote $LOCK ($(grep -c '^[A-Za-z0-9].*==' "$LOCK") packages); commit it"
