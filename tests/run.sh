#!/bin/bash
# Run syncmld's test suite on a Debian 12 machine that has the Rust toolchain.
#
#   ./tests/run.sh [extra cargo test args]     e.g. ./tests/run.sh --test harness_selftest
#
# Installs the packages the interop tests need (SyncEvolution as a scripted
# SyncML peer, see ../shared/peers/README.md) when they are missing, then runs
# `cargo test --locked`. Set CI=true to make missing peers a failure instead
# of a skipped test.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

# --- the shared peer scripts (the repo is cloned next to a `shared` directory) ---
export SYNCMLD_SHARED=${SYNCMLD_SHARED:-$REPO/../shared}
if [ ! -f "$SYNCMLD_SHARED/peers/syncevo-client.sh" ]; then
    die "$SYNCMLD_SHARED/peers/syncevo-client.sh not found.
The interop tests drive SyncEvolution through the scripts in shared/peers.
Clone the repository next to the 'shared' directory, or set SYNCMLD_SHARED=/path/to/shared."
fi
SYNCMLD_SHARED=$(cd "$SYNCMLD_SHARED" && pwd)

# --- system packages ---
# python3-twisted is not pulled in by syncevolution-http (Debian bug) but its
# HTTP server needs it; gcc builds the peers' curl LD_PRELOAD shim; xmllint
# validates what we emit against schemas/; systemd brings systemd-analyze
# for the unit-file test.
PACKAGES=(syncevolution syncevolution-http syncevolution-libs dbus dbus-x11
          python3-twisted python3-dbus python3-gi python3-openssl gcc libxml2-utils
          systemd)

if command -v dpkg-query >/dev/null; then
    missing=()
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing missing packages: ${missing[*]}"
        if [ "$(id -u)" -eq 0 ]; then
            SUDO=()
        elif command -v sudo >/dev/null; then
            SUDO=(sudo)
        else
            die "not root and no sudo: install as root: apt-get install ${missing[*]}"
        fi
        # env, not export: sudo would drop an exported variable.
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        say "system packages present (${#PACKAGES[@]} checked)"
    fi
else
    echo "warning: no dpkg-query (not Debian?); install SyncEvolution yourself: ${PACKAGES[*]}" >&2
fi

command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (https://rustup.rs)"

say "cargo test --locked${*:+ $*} (SYNCMLD_SHARED=$SYNCMLD_SHARED${CI:+, CI=$CI})"
start=$SECONDS
cargo test --locked "$@"
say "tests passed in $((SECONDS - start)) s"
