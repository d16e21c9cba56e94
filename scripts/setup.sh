#!/usr/bin/env bash
# Townhall setup: everything `make demo` and `make test` need, and nothing else.
#
#   1. Debian packages (only if a needed command is missing; needs root):
#        chromium (driven by Playwright via /usr/bin/chromium; we never run
#        `playwright install`), ffmpeg (ffplay/ffprobe), fonts-liberation, fonts-noto-color-emoji,
#        nodejs+npm (only when npm is missing), python3+python3-venv (only when no
#        usable Python >= 3.11 is found), redis-server, postgresql, nginx-light,
#        libnginx-mod-nchan (the edge's listener-stream fan-out),
#        icecast2, wrk (cluster tests and benchmarks start their own instances),
#        espeak-ng and pocketsphinx-testdata (known speech for the caption tests and
#        benchmark: synthesized sentences and LibriVox clips with their transcripts),
#        janus and iproute2 (Janus AudioBridge, beside which the mixer is benchmarked),
#        varnish (the edge of the LL-DASH listener path: it streams a miss to everyone).
#   2. Python: .venv at the repo root, `pip install -c constraints.txt -e '.[test]'`.
#   3. npm: `npm ci` for hls.js and dash.js (served by the app from node_modules) and
#      axe-core (injected into pages by the browser tests' accessibility checks).
#
# Idempotent: steps that are already done are skipped, so a second run takes a second
# or two. Environment knobs: PYTHON (interpreter used to create .venv, default python3),
# TOWNHALL_SKIP_APT=1 (never touch apt; just report what is missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
PIP_STAMP="$VENV/.setup-stamp"
NPM_STAMP="$ROOT/node_modules/.setup-stamp"

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

python_ok() {
    # A Python >= 3.11 that can create venvs with pip in them (ensurepip).
    command -v "$PYTHON" >/dev/null 2>&1 &&
        "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' \
            >/dev/null 2>&1
}

# ---------------------------------------------------------------- 1. system packages
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# Cluster tests and benchmarks start their own Redis, PostgreSQL, nginx edge, and for
# the side-by-side benchmark Icecast fed by ffmpeg, with wrk as the HTTP load generator.
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
# Nchan: the edge fans the one-stream listener path out with it (townhall/edge/nginx.conf.j2).
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || missing+=(libnginx-mod-nchan)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v icecast2 >/dev/null 2>&1 || missing+=(icecast2)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
[ -f /usr/share/pocketsphinx/test/data/librivox/transcription ] || missing+=(pocketsphinx-testdata)
# Janus (AudioBridge): the reference the mixer benchmark measures against (BENCHMARKS §12);
# iproute2 for the network namespace it runs in (it leaves loopback out of ICE).
command -v janus >/dev/null 2>&1 || missing+=(janus)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v varnishd >/dev/null 2>&1 || [ -x /usr/sbin/varnishd ] || missing+=(varnish)
python_ok || missing+=(python3 python3-venv)
if command -v dpkg-query >/dev/null 2>&1; then
    # Fonts so pages (and their screenshots) render text and reaction emoji everywhere.
    for font in fonts-liberation fonts-noto-color-emoji; do
        dpkg-query -W -f='${Status}' "$font" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$font")
    done
fi
# npm and pip fetch over HTTPS; Debian's nodejs uses the system CA store.
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)

if [ "${#missing[@]}" -gt 0 ]; then
    # De-duplicate, and always add the fonts so pages render the same everywhere.
    mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" fonts-liberation | sort -u)
    if [ "$(id -u)" -ne 0 ] || [ "${TOWNHALL_SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
        cat >&2 <<EOF
setup: some system packages are missing: ${pkgs[*]}
Install them as root (Debian 12 / Ubuntu), then run this again:

    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${pkgs[*]}

(Run 'make setup' as root to have this script do it for you.)
EOF
        exit 1
    fi
    say "apt-get install ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${pkgs[@]}"
    hash -r
else
    say "system packages: chromium, ffmpeg, npm, fonts, redis, postgresql, nginx, icecast2, wrk, espeak-ng, speech test data, janus, varnish, $PYTHON present"
fi

python_ok || die "$PYTHON is not a Python >= 3.11 with venv/ensurepip (set PYTHON=/path/to/python3.11+)"

# ---------------------------------------------------------------- 2. Python venv
if [ -d "$VENV" ] && ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }; then
    say "removing broken .venv (no working python/pip inside)"
    rm -rf "$VENV"
fi
if [ ! -d "$VENV" ]; then
    say "creating .venv with $PYTHON ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die ".venv uses Python < 3.11; remove .venv and run again with PYTHON=python3.11+"

if [ -f "$PIP_STAMP" ] && [ "$PIP_STAMP" -nt pyproject.toml ] && [ "$PIP_STAMP" -nt constraints.txt ]; then
    say "python packages up to date (.venv/.setup-stamp newer than pyproject.toml, constraints.txt)"
else
    say "pip install -c constraints.txt -e '.[test]'"
    rm -f "$PIP_STAMP"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input \
        -c constraints.txt -e '.[test]'
    touch "$PIP_STAMP"
fi

# ---------------------------------------------------------------- 3. npm (hls.js, axe-core)
if [ -f "$NPM_STAMP" ] && [ "$NPM_STAMP" -nt package-lock.json ] && [ "$NPM_STAMP" -nt package.json ] &&
    [ -f node_modules/hls.js/dist/hls.mjs ] && [ -f node_modules/axe-core/axe.min.js ] &&
    [ -f node_modules/dashjs/dist/dash.mediaplayer.min.js ]; then
    say "node_modules up to date (hls.js $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' node_modules/hls.js/package.json | head -n1))"
else
    say "npm ci --no-audit --no-fund"
    npm ci --no-audit --no-fund
    [ -f node_modules/hls.js/dist/hls.mjs ] || die "npm ci finished but node_modules/hls.js/dist/hls.mjs is missing"
    [ -f node_modules/axe-core/axe.min.js ] || die "npm ci finished but node_modules/axe-core/axe.min.js is missing"
    [ -f node_modules/dashjs/dist/dash.mediaplayer.min.js ] || die "npm ci finished but node_modules/dashjs/dist/dash.mediaplayer.min.js is missing"
    touch "$NPM_STAMP"
fi

say "setup complete"
