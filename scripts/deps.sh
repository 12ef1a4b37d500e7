#!/usr/bin/env bash
# deps.sh — installs the Debian packages tagbase needs, and only those. Idempotent: when every
# package is already installed it changes nothing and never runs apt-get update.
#
#   scripts/deps.sh          build, unit tests, black-box tests, make run
#   scripts/deps.sh fuzz     the above plus clang's libFuzzer and sanitizer runtimes
#   scripts/deps.sh bench    the above plus hyperfine
#   scripts/deps.sh format   the above plus clang-format
#   scripts/deps.sh pg       the above plus PostgreSQL 15 (a peer in bench/seg_pg.sh)
set -euo pipefail

# One line per package, with why we need it.
base=(
  gcc                 # the compiler (C17)
  make                # GNU make
  libc6-dev           # C library headers
  libsqlite3-dev      # meta store (src/store)
  libjansson-dev      # JSON: manifests, API bodies
  libxxhash-dev       # XXH3: row and key hashes of the pipeline
  libsodium-dev       # argon2id passwords, keyed hashes of sessions and tokens, the audit chain
  libmicrohttpd-dev   # the HTTP server (tagbase serve)
  libcmocka-dev       # unit tests
  libzstd-dev         # zstd: compressed columnar event partitions (src/events)
  zlib1g-dev          # gzip bodies of the event collector (RudderStack, Sensors gzip=1)
  sqlite3             # black-box tests that edit a store behind tagbase's back (tamper checks)
  nodejs              # black-box tests (node:test) and the web console build (make web)
  chromium            # the web console's browser tests (tests/e2e/console.test.mjs, headless)
  fonts-wqy-microhei  # Chinese glyphs for chromium: the console's screenshots show zh-CN text
)
format=(
  clang-format        # make format / make format-check (.clang-format)
)
bench=(
  hyperfine           # timing of whole commands in bench/*.sh
  wrk                 # HTTP load for bench/server.sh (127.0.0.1 only, bounded in time)
  nginx               # the static-file ceiling of bench/server.sh (a private instance)
)
pg=(
  postgresql-15       # peer of the segment benchmark (bench/seg_pg.sh; private throwaway cluster)
)
fuzz=(
  clang               # libFuzzer targets (make fuzz)
  libclang-rt-14-dev  # libFuzzer and sanitizer runtimes for clang
)

want=("${base[@]}")
# npm builds the web console; NodeSource's nodejs brings its own, Debian's packages it apart.
command -v npm >/dev/null 2>&1 || want+=(npm)
for group in "$@"; do
  case "$group" in
    fuzz) want+=("${fuzz[@]}") ;;
    bench) want+=("${bench[@]}") ;;
    format) want+=("${format[@]}") ;;
    pg) want+=("${pg[@]}") ;;
    *) echo "deps.sh: unknown group '$group' (known: fuzz, bench, format, pg)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
  sudo=sudo
else
  sudo=
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
