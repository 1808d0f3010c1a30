#!/usr/bin/env bash
# tools/bench/epoch-compare.sh BIN ROUNDS — one epoch of Fashion-MNIST
# pretraining, simclr against a plain PyTorch loop, interleaved ROUNDS times
# (simclr, pytorch, simclr, pytorch, ...).
#
#   simclr:  BIN pretrain --config configs/fashion-mnist.yaml --set data.limit=LIMIT
#            --set train.epochs=1 --out TMP
#   pytorch: tools/bench/torch_epoch.py --limit LIMIT --threads THREADS
#            (same model, batch, augmentations and optimizer family; see its docstring)
#
# Start-up is excluded on both sides. simclr's epoch time is LIMIT pairs
# over the pairs/s of the epoch's last row of metrics.csv (measured from the
# start of the epoch's loop to the end of its last step, loader waits
# included; the checkpoint written after the epoch is not); its step time
# is the sum of the seconds column (upload, forward, backward, optimizer),
# and wait = epoch - steps is the time the loop spent outside the steps
# (waiting for the loader's next batch, logging). PyTorch's epoch time is
# its own timer around the loop (augmentation of each batch + step).
#
# Prints one line per run, then per side the median and range of seconds
# per epoch and pairs/s, and the ratio simclr/pytorch of the pairs/s
# medians (> 1 = simclr faster) with the per-round ratios.
#
# Environment: LIMIT (default 12800 images = 50 steps of 256 pairs),
# THREADS (default nproc; sets GOMAXPROCS and --threads), PYTHON
# (/usr/bin/python3), KEEP=1 keeps simclr's run directories.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 BIN ROUNDS" >&2
  exit 2
fi
BIN=$1 rounds=$2
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
[ -x "$BIN" ] || { echo "$0: $BIN is not executable (make build)" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-/usr/bin/python3}
LIMIT=${LIMIT:-12800}
THREADS=${THREADS:-$(nproc)}
export GOMAXPROCS=$THREADS
tmp=$(mktemp -d)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT

declare -a s_sec s_pps t_sec t_pps ratios
load() { cut -d' ' -f1 /proc/loadavg; }
for r in $(seq "$rounds"); do
  l0=$(load)
  "$BIN" pretrain --config configs/fashion-mnist.yaml --set data.limit="$LIMIT" --set train.epochs=1 \
    --out "$tmp/simclr$r" >"$tmp/simclr$r.log" 2>&1 || { cat "$tmp/simclr$r.log" >&2; exit 1; }
  # metrics.csv: epoch,step,loss,lr,pairs_per_s,seconds,knn_top1
  read -r sp ssteps nsteps < <(awk -F, 'NR > 1 { last = $5; sum += $6; n++ } END { printf "%s %.3f %d\n", last, sum, n }' "$tmp/simclr$r/metrics.csv")
  smed=$(awk -F, 'NR > 1 { print $6 }' "$tmp/simclr$r/metrics.csv" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR+1)/2)] }')
  ssec=$(awk -v p="$sp" -v n="$nsteps" 'BEGIN { printf "%.2f", n * 256 / p }')
  printf 'round %d simclr  %7.2f s/epoch %7.2f pairs/s  steps %7.2f s (median %.3f s)  wait %6.2f s  (load %s -> %s)\n' \
    "$r" "$ssec" "$sp" "$ssteps" "$smed" "$(awk -v a="$ssec" -v b="$ssteps" 'BEGIN { print a - b }')" "$l0" "$(load)"
  l0=$(load)
  tj=$("$PYTHON" tools/bench/torch_epoch.py --limit "$LIMIT" --threads "$THREADS")
  tv() { grep -o "\"$1\": [0-9.]*" <<<"$tj" | awk '{ print $2 }'; }
  tsec=$(tv seconds_per_epoch) tp=$(tv pairs_per_s)
  printf 'round %d pytorch %7.2f s/epoch %7.2f pairs/s  steps %7.2f s (median %.3f s)  aug %6.2f s  (load %s -> %s)\n' \
    "$r" "$tsec" "$tp" "$(tv step_s)" "$(awk -v m="$(tv step_ms_median)" 'BEGIN { print m / 1000 }')" "$(tv aug_s)" "$l0" "$(load)"
  s_sec+=("$ssec") s_pps+=("$sp") t_sec+=("$tsec") t_pps+=("$tp")
  ratios+=("$(awk -v a="$sp" -v b="$tp" 'BEGIN { printf "%.2f", a / b }')")
done
stats() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { printf "median %.2f (%.2f-%.2f, n=%d)", a[int((NR+1)/2)], a[1], a[NR], NR }'; }
med() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR+1)/2)] }'; }
echo
echo "simclr   s/epoch $(stats "${s_sec[@]}")   pairs/s $(stats "${s_pps[@]}")"
echo "pytorch  s/epoch $(stats "${t_sec[@]}")   pairs/s $(stats "${t_pps[@]}")"
echo "ratio simclr/pytorch of the pairs/s medians: $(awk -v a="$(med "${s_pps[@]}")" -v b="$(med "${t_pps[@]}")" 'BEGIN { printf "%.2f", a / b }')  (per round: ${ratios[*]})"
