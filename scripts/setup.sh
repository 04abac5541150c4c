#!/usr/bin/env bash
# Idempotent setup: Debian data packages, a virtual environment, the Python packages.
# A second run with nothing changed returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
DEB_PACKAGES=(fonts-noto-color-emoji unicode-data unicode-cldr-core)
# Extra Debian packages needed only by the browser tests / demo page screenshot.
DEB_PACKAGES+=(${EXTRA_DEB_PACKAGES:-})

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: the Debian packages ${missing[*]} are missing and apt-get is not available." >&2
    echo "setup: install them with your system's package manager (they provide the emoji font," >&2
    echo "setup: /usr/share/unicode/emoji/emoji-test.txt and the CLDR annotations), then rerun." >&2
    exit 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    SUDO=""
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; fi
    if [ -z "$SUDO" ]; then
      echo "setup: the Debian packages ${missing[*]} are missing and this user is not root." >&2
      echo "setup: run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  else
    SUDO=""
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

stamp_src=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -x "$VENV/bin/python" ] && [ -f "$VENV/.setup-stamp" ] && [ "$(cat "$VENV/.setup-stamp")" = "$stamp_src" ]; then
  exit 0
fi
echo "setup: creating/updating the virtual environment in $VENV"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
log=$(mktemp)
pip_install() {
  # pip's output goes to a log, shown only when the install fails.
  if ! "$VENV/bin/python" -m pip install -q "$@" >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -n 40 >&2
    echo "setup: pip install $* failed" >&2
    exit 1
  fi
}
# torch first and pinned: 2.13.0 is the CPU build that installs from local disk.
pip_install "torch==2.13.0"
pip_install -e ".[all,dev]"
rm -f "$log"
echo "$stamp_src" > "$VENV/.setup-stamp"
echo "setup: done"
