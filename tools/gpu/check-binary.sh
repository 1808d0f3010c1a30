#!/usr/bin/env bash
# tools/gpu/check-binary.sh [--max-glibc X.Y] BINARY... — checks on CUDA
# binaries that need no GPU (make check-cuda-bin, make check-glibc):
#
#   * no DT_NEEDED entry for libcuda: the driver is loaded at run time
#     (tools/cudashim), so a machine without it gets simclr's own message;
#   * started where libcuda.so.1 cannot be loaded, the binary exits with
#     status 3 and that message, never the dynamic loader's "error while
#     loading shared libraries" (where libcuda.so.1 is installed, as on a
#     GPU host, this needs `unshare -m` as root to hide it, else SKIP);
#     only for binaries named simclr-cuda (the test binary has no probe
#     output of its own to check);
#   * the newest GLIBC_ symbol version each binary requires (objdump -T);
#     with --max-glibc X.Y, a binary needing a newer glibc fails.
#
# Prints one PASS/FAIL/SKIP line per check; exits 1 when any failed.
set -uo pipefail
max=""
if [ "${1:-}" = "--max-glibc" ]; then
  max="${2:?--max-glibc needs a version, e.g. 2.31}"
  shift 2
fi
[ $# -gt 0 ] || { echo "usage: tools/gpu/check-binary.sh [--max-glibc X.Y] BINARY..." >&2; exit 2; }
failed=0
say() { echo "$*"; [ "$1" = FAIL ] && failed=1; return 0; }

for bin in "$@"; do
  if [ ! -x "$bin" ]; then
    say FAIL "$bin (missing; build it with make build-cuda or make gpu-bundle)"
    continue
  fi
  if [ -z "$max" ]; then
    if readelf -d "$bin" | grep -q 'NEEDED.*libcuda'; then
      say FAIL "$bin links libcuda directly (readelf -d shows NEEDED libcuda); build it with make build-cuda, which links tools/cudashim"
    else
      say PASS "$bin has no libcuda dependency"
    fi
    if [ "$(basename "$bin")" = simclr-cuda ]; then
      ldconfig="$(command -v ldconfig || echo /sbin/ldconfig)"
      lib="$("$ldconfig" -p 2>/dev/null | awk '/libcuda\.so\.1 / { print $NF; exit }')"
      run=("$bin" version)
      if [ -n "$lib" ]; then
        real="$(readlink -f "$lib")"
        if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
          # Hide the installed driver library for this one run.
          run=(unshare -m sh -c 'mount --bind /dev/null "$0" && exec "$@"' "$real" "$bin" version)
        else
          say SKIP "$bin without libcuda.so.1 ($lib is installed; hiding it needs root and unshare -m)"
          run=()
        fi
      fi
      if [ ${#run[@]} -gt 0 ]; then
        msg="$("${run[@]}" 2>&1)"
        rc=$?
        if [ "$rc" -eq 3 ] && [[ "$msg" == *"simclr: no CUDA device found: the NVIDIA driver library libcuda.so.1 cannot be loaded"* ]]; then
          say PASS "$bin without libcuda.so.1 exits 3 with: $msg"
        elif [ "$rc" -eq 0 ] && [ ${#run[@]} -eq 2 ]; then
          say SKIP "$bin without libcuda.so.1 (the driver was found after all, outside the loader cache, and the binary ran)"
        else
          say FAIL "$bin without libcuda.so.1: exit $rc, want 3 and simclr's message; got: $msg"
        fi
      fi
    fi
  fi
  need="$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
  users="$(objdump -T "$bin" | awk -v v="GLIBC_$need" '$0 ~ "\\(" v "\\)" { print $NF }' | sort -u | head -8 | tr '\n' ' ')"
  if [ -n "$max" ] && [ "$(printf '%s\n%s\n' "$need" "$max" | sort -V | tail -1)" != "$max" ]; then
    say FAIL "$bin needs glibc $need (e.g. ${users% }), newer than $max; build it on a system with glibc $max (docker build -f Dockerfile.cuda --target bundle, Ubuntu 20.04)"
  else
    say PASS "$bin needs glibc ${need:-(none)}${max:+ (<= $max)}"
  fi
done
exit "$failed"
