#!/usr/bin/env bash
# Idempotent setup: Debian data packages, a virtual environment, the Python packages.
# The Python packages come from requirements.lock only (exact versions, hash-checked; made by
# `make lock`); the Debian packages and their tested versions are in scripts/debian-packages.txt.
# A second run with nothing changed returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
LOCK=requirements.lock
FIND_LINKS=${TORCH_FIND_LINKS:-/opt/wheels}   # where the torch 2.13.0+cpu wheel lies
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

# --- Debian packages -------------------------------------------------------------------------
# fonts-noto-color-emoji, unicode-data, unicode-cldr-core: the emoji glyphs and names of EmojiScenes;
# openclipart-svg, openclipart-png: the 8,121 public-domain drawings (SVG with title/tags metadata,
# and their pre-rendered PNGs) of the openclipart dataset (`distilhash data prepare openclipart`).
# chromium, chromium-driver (optional): the browser tests of the web page (skipped when absent).
declare -A TESTED=()
REQUIRED_DEB=() OPTIONAL_DEB=()
while read -r spec kind; do
  case "$spec" in ''|'#'*) continue ;; esac
  TESTED[${spec%%=*}]=${spec#*=}
  if [ "${kind:-}" = optional ]; then OPTIONAL_DEB+=("${spec%%=*}"); else REQUIRED_DEB+=("${spec%%=*}"); fi
done < scripts/debian-packages.txt

missing_of() {
  local out=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out+=("$p")
  done
  echo "${out[@]:-}"
}

can_apt() {
  command -v apt-get >/dev/null 2>&1 || return 1
  [ "$(id -u)" -eq 0 ] && { SUDO=""; return 0; }
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && { SUDO=sudo; return 0; }
  return 1
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Required packages: the tested version when the archive still has it, else the archive's (warned).
apt_install_tested() {
  local p pinned=()
  for p in "$@"; do pinned+=("$p=${TESTED[$p]}"); done
  apt_install "${pinned[@]}" 2>/dev/null && return 0
  echo "setup: warning: the tested versions (${pinned[*]}) are no longer in the archive; installing its current ones" >&2
  apt_install "$@"
}

if command -v dpkg-query >/dev/null 2>&1; then
  read -r -a missing <<<"$(missing_of "${REQUIRED_DEB[@]}")"
  if [ ${#missing[@]} -gt 0 ]; then
    if ! can_apt; then
      echo "setup: the Debian packages ${missing[*]} are missing and cannot be installed here" >&2
      echo "setup: (apt-get is unavailable, or this user is not root and has no password-less sudo)." >&2
      echo "setup: as root run: apt-get update && apt-get install -y ${missing[*]}" >&2
      echo "setup: they provide the emoji font, /usr/share/unicode/emoji/emoji-test.txt, the CLDR annotations" >&2
      echo "setup: and the openclipart drawings (/usr/share/openclipart/svg and png)." >&2
      exit 1
    fi
    echo "setup: installing Debian packages: ${missing[*]}"
    apt_install_tested "${missing[@]}"
  fi
  read -r -a optional <<<"$(missing_of "${OPTIONAL_DEB[@]}")"
  if [ ${#optional[@]} -gt 0 ]; then
    if can_apt; then
      echo "setup: installing Debian packages for the browser tests: ${optional[*]}"
      apt_install "${optional[@]}" || echo "setup: warning: could not install ${optional[*]}; browser tests will be skipped" >&2
    else
      echo "setup: warning: ${optional[*]} missing and apt-get unusable; browser tests will be skipped" >&2
    fi
  fi
  for p in "${REQUIRED_DEB[@]}"; do
    have=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
    [ -z "$have" ] || [ "$have" = "${TESTED[$p]}" ] ||
      echo "setup: note: $p is $have here, tested with ${TESTED[$p]} (scripts/debian-packages.txt)" >&2
  done
else
  echo "setup: warning: not a Debian system (no dpkg-query); make sure the emoji font, unicode-data and CLDR files exist" >&2
fi

# --- Python packages, from the lock ------------------------------------------------------------
"$PY" scripts/lockfile.py check-fresh --lock "$LOCK"   # pyproject.toml changed without `make lock`: stop here

stamp_src=$(cat "$LOCK" pyproject.toml scripts/setup.sh scripts/lockfile.py | sha256sum | cut -c1-16)
if [ -x "$VENV/bin/python" ] && [ -f "$VENV/.setup-stamp" ] && [ "$(cat "$VENV/.setup-stamp")" = "$stamp_src" ]; then
  exit 0
fi
echo "setup: creating/updating the virtual environment in $VENV from $LOCK"
echo "setup: installing the locked packages (torch among them) takes minutes, longer on a busy machine;"
echo "setup: pip stays quiet unless it fails, and \"setup: done\" ends this step"
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
find_links=()
[ -d "$FIND_LINKS" ] && find_links=(--find-links "$FIND_LINKS")
ls "$FIND_LINKS"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1 ||
  echo "setup: note: no torch-2.13.0+cpu wheel in $FIND_LINKS; pip looks in its configured indexes (TORCH_FIND_LINKS=DIR points elsewhere)" >&2
# Every package at its locked version, each file checked against the lock's sha256 hashes.
pip_install --require-hashes "${find_links[@]}" -r "$LOCK"
# The project itself: no dependency resolution, and the build backend is the locked setuptools.
pip_install --no-deps --no-build-isolation -e .
# Every locked version in place. Packages the lock does not list (installed by hand, or by an older
# setup) are reported and left alone: `python scripts/lockfile.py check-installed --sync` removes them.
"$VENV/bin/python" scripts/lockfile.py check-installed --lock "$LOCK" --allow-extra
rm -f "$log"
echo "$stamp_src" > "$VENV/.setup-stamp"
echo "setup: done"
