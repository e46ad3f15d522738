#!/usr/bin/env bash
# Installs what runs arm64 (aarch64) Linux programs on an x86_64 machine, for the tests of the
# aarch64 wheel (scripts/test-arm64.sh) and of other aarch64 builds:
#
#   - qemu-user: Debian's `qemu-user-static` (/usr/bin/qemu-aarch64-static), which runs one
#     aarch64 program at a time; no binfmt registration, the callers run
#     `qemu-aarch64-static -L ROOT ROOT/usr/bin/python3 ...`;
#   - an arm64 root with CPython: Debian bookworm's python3 (3.11) and ca-certificates, made with
#     `debootstrap --arch=arm64 --foreign` (which downloads the packages and unpacks the
#     required ones) and unpacks the others as it does. No maintainer script runs: a program run
#     with `qemu -L ROOT` needs only the files (bookworm's glibc searches /lib/aarch64-linux-gnu
#     without an ld.so.cache), so no second stage under emulation, no binfmt and no chroot.
#
# The root goes to ${AMIKEEPER_CACHE:-$HOME/.cache/amikeeper}/arm64-root (about 230 MB);
# idempotent: when it is complete (its stamp names this script's root's packages), and qemu is
# installed, it returns at once. Prints nothing on stdout but, last, the root's path.
#
#   root=$(scripts/setup-arm64.sh)
#   qemu-aarch64-static -L "$root" "$root/usr/bin/python3" -c 'import platform; print(platform.machine())'
#
# Installing the Debian packages needs root (or sudo) and apt-get; DEBIAN_MIRROR picks the mirror
# debootstrap downloads from (default: http://deb.debian.org/debian).
set -euo pipefail

cache="${AMIKEEPER_CACHE:-$HOME/.cache/amikeeper}"
root="$cache/arm64-root"
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages=python3,ca-certificates
stamp="$root/.amikeeper-root"
want="$suite $packages"

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else sudo="missing"; fi
fi

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup-arm64: $* missing and apt-get is not here; install Debian's $* (or equivalents)" >&2
        exit 1
    fi
    if [ "$sudo" = missing ]; then
        echo "setup-arm64: installing $* needs root (apt-get install $*)" >&2
        exit 1
    fi
    echo "setup-arm64: installing Debian's $* (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup-arm64: $root is up to date ($want)" >&2
else
    echo "setup-arm64: debootstrap --arch=arm64 --foreign $suite ($packages) into $root" >&2
    if [ "$sudo" = missing ]; then echo "setup-arm64: debootstrap needs root (or sudo)" >&2; exit 1; fi
    mkdir -p "$cache"
    $sudo rm -rf "$root" "$root.partial"
    $sudo env PATH="/usr/sbin:/sbin:$PATH" debootstrap \
        --arch=arm64 --foreign --variant=minbase --include="$packages" \
        "$suite" "$root.partial" "$mirror" >&2
    # The first stage unpacked the required packages; the others (python3 and what it needs) it
    # left, downloaded, for the second stage: unpack them the same way (their files, no scripts).
    read -r -a base < "$root.partial/debootstrap/base"
    while read -r package deb; do
        if [[ " ${base[*]} " == *" $package "* ]]; then
            # --keep-directory-symlink: /lib and /bin are merged /usr's links, which a package's
            # lib/ directory would otherwise replace (dpkg-deb -x does).
            dpkg-deb --fsys-tarfile "$root.partial$deb" | $sudo tar -x --keep-directory-symlink -C "$root.partial"
        fi
    done < "$root.partial/debootstrap/debpaths"
    $sudo rm -rf "$root.partial/var/cache/apt/archives/"*.deb
    echo "$want" | $sudo tee "$root.partial/.amikeeper-root" >/dev/null
    $sudo mv "$root.partial" "$root"
fi

python=$(qemu-aarch64-static -L "$root" "$root/usr/bin/python3" -c 'import platform; print(platform.machine(), platform.python_version())')
if [ "${python%% *}" != aarch64 ]; then
    echo "setup-arm64: the arm64 python3 says its machine is '${python%% *}', not aarch64" >&2
    exit 1
fi
echo "setup-arm64: $root ready (Python ${python#* } on aarch64, $(qemu-aarch64-static --version | head -1))" >&2
echo "$root"
