#!/usr/bin/env bash
# Installs what building Tributary needs on a fresh Debian/Ubuntu machine:
# libclang (bindgen generates RocksDB's bindings) and a C/C++ toolchain (RocksDB compiles
# from source). Safe to run again: it installs only what is missing.
set -euo pipefail

missing=()
# libclang itself, not libclang-cpp (which some images carry without it).
have_libclang() {
  ldconfig -p 2>/dev/null | grep -qE 'libclang(-[0-9.]+)?\.so' ||
    compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null ||
    compgen -G '/usr/lib/llvm-*/lib/libclang-[0-9]*.so*' >/dev/null
}
have_libclang || missing+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust with rustup (https://rustup.rs) and run again" >&2
  exit 1
fi
