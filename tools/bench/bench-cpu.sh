#!/usr/bin/env bash
# bench-cpu.sh BIN - compare the CPU training-step throughput of simclr with
# PyTorch on the same shapes.
#
# For each case it runs `BIN bench --device cpu --json ...` and the PyTorch
# side, then prints a table:
#   case, simclr pairs/s, pytorch pairs/s, ratio (simclr / pytorch; > 1 = simclr faster).
#
# Cases:
#   a  ResNet-18, CIFAR stem, width 64, 32 px, 3 channels, 64 pairs
#   b  the Fashion-MNIST model of configs/fashion-mnist.yaml (1 channel, 28 px;
#      width and batch read from `BIN config --config configs/fashion-mnist.yaml`)
#
# PyTorch side: case a runs tools/bench/torch_step.py (a fixed N(0,1) batch,
# SGD). Case b runs a plain PyTorch training loop, tools/bench/torch_epoch.py
# on the first (WARMUP+STEPS) batches of Fashion-MNIST (real images, batched
# augmentation, LARS), and takes the rate of its steps after the warm-up with
# the augmentation left out (step_pairs_per_s): torch_step.py's figure for
# this model was below a plain loop's (docs/benchmarks.md, part 4).
# TORCH_B=step uses torch_step.py for case b as before; so does a machine
# without the data set or numpy.
#
# Environment:
#   STEPS    timed steps per run (default 4)
#   WARMUP   untimed steps run first (default 1)
#   THREADS  threads for both implementations (default: all cores; sets
#            GOMAXPROCS and torch_step.py --threads)
#   PYTHON   interpreter with torch and torchvision (default /usr/bin/python3,
#            Debian's python3-torch)
#   CASES    which cases to run (default "a b")
#   TORCH_B  loop (default) or step: the PyTorch side of case b (see above)
#   FMNIST   Fashion-MNIST folder for TORCH_B=loop (default /usr/share/datasets/fashion-mnist)
#
# With the defaults the whole script takes about 2 minutes on 2 cores.
# Without python3-torch it says so and prints only the simclr figures.
set -uo pipefail

usage() {
	echo "usage: $0 BIN   (BIN = a built simclr binary, e.g. ./simclr)" >&2
	exit 2
}
[ $# -eq 1 ] || usage
case "$1" in -h | --help) usage ;; esac

BIN=$1
if [ ! -x "$BIN" ]; then
	echo "bench-cpu.sh: $BIN is not an executable file; build it with: go build -o simclr ./cmd/simclr" >&2
	exit 2
fi
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
TORCH_STEP="$ROOT/tools/bench/torch_step.py"
TORCH_EPOCH="$ROOT/tools/bench/torch_epoch.py"
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}

STEPS=${STEPS:-4}
WARMUP=${WARMUP:-1}
PYTHON=${PYTHON:-/usr/bin/python3}
CASES=${CASES:-a b}
if [ -n "${THREADS:-}" ]; then
	export GOMAXPROCS=$THREADS
else
	THREADS=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
fi
for v in STEPS WARMUP THREADS; do
	case "${!v}" in '' | *[!0-9]*)
		echo "bench-cpu.sh: $v=${!v} is not a whole number" >&2
		exit 2
		;;
	esac
done

if ! "$BIN" bench --help >/dev/null 2>&1; then
	echo "bench-cpu.sh: $BIN has no 'bench' command; rebuild it from a tree that has one" >&2
	exit 2
fi

have_torch=1
if ! "$PYTHON" -c 'import torch, torchvision' >/dev/null 2>&1; then
	have_torch=0
	echo "bench-cpu.sh: PyTorch is missing ($PYTHON cannot import torch and torchvision);" \
		"install python3-torch and python3-torchvision for the comparison. Printing only the simclr figures." >&2
fi

# cfg_value SECTION KEY ARGS... prints model.width etc. from `BIN config ARGS`.
cfg_value() {
	local section=$1 key=$2
	shift 2
	"$BIN" config "$@" | awk -v sec="$section" -v key="$key" '
		/^[A-Za-z_]/ { cur = $0; sub(/:.*/, "", cur); next }
		cur == sec && $0 ~ "^  " key ":" {
			v = $0; sub(/^[^:]*:[ \t]*/, "", v); sub(/[ \t]*#.*$/, "", v); print v; exit
		}'
}

# json_num JSON KEY prints the number stored under KEY.
json_num() {
	printf '%s' "$1" | tr -d '\n' | sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\([-+0-9.eE]*\).*/\1/p"
}

declare -a rows
failed=0

# run_case NAME CHANNELS CONFIG-ARGS...
run_case() {
	local name=$1 channels=$2
	shift 2
	local arch stem width size pairs hidden out tau
	arch=$(cfg_value model arch "$@") && stem=$(cfg_value model stem "$@") &&
		width=$(cfg_value model width "$@") && size=$(cfg_value data image_size "$@") &&
		pairs=$(cfg_value train batch_size "$@") && hidden=$(cfg_value model head_hidden "$@") &&
		out=$(cfg_value model head_out "$@") && tau=$(cfg_value loss temperature "$@")
	if [ -z "${width:-}" ] || [ -z "${size:-}" ] || [ -z "${pairs:-}" ]; then
		echo "bench-cpu.sh: case $name: cannot read model.width, data.image_size and train.batch_size from '$BIN config $*'" >&2
		rows+=("$name|$arch w$width ${size}px ${channels}ch N=$pairs|error|-|-")
		failed=1
		return
	fi
	local desc="$arch/$stem w$width ${size}px ${channels}ch N=$pairs"
	echo "== case $name: $desc, $WARMUP warm-up + $STEPS timed steps, $THREADS threads" >&2

	local sj sp="error" tp="-" ratio="-"
	if sj=$("$BIN" bench --device cpu --json --steps "$STEPS" --warmup "$WARMUP" "$@"); then
		sp=$(json_num "$sj" pairs_per_s)
		echo "   simclr:  $(json_num "$sj" pairs_per_s) pairs/s, $(json_num "$sj" ms_per_step) ms/step, peak $(json_num "$sj" peak_bytes) bytes" >&2
		[ -n "$sp" ] || { sp="error"; echo "bench-cpu.sh: case $name: no pairs_per_s in: $sj" >&2; }
	else
		echo "bench-cpu.sh: case $name: '$BIN bench' failed" >&2
	fi
	[ "$sp" = "error" ] && failed=1

	if [ "$have_torch" = 1 ]; then
		local tj
		if [ "$name" = b ] && [ "${TORCH_B:-loop}" = loop ] && [ -f "$FMNIST/train-images-idx3-ubyte.gz" ] && "$PYTHON" -c "import numpy" 2>/dev/null; then
			if tj=$("$PYTHON" "$TORCH_EPOCH" --data "$FMNIST" --limit $((pairs * (WARMUP + STEPS))) --batch "$pairs" \
				--width "$width" --image-size "$size" --head-hidden "$hidden" --head-out "$out" --tau "$tau" \
				--warmup "$WARMUP" --threads "$THREADS"); then
				tp=$(json_num "$tj" step_pairs_per_s)
				echo "   pytorch (plain loop, torch_epoch.py): $tp pairs/s over the steps after $WARMUP warm-up, median step $(json_num "$tj" step_ms_median) ms" >&2
			else
				tp="error"
				failed=1
			fi
		elif tj=$("$PYTHON" "$TORCH_STEP" --arch "$arch" --stem "$stem" --width "$width" --in-channels "$channels" \
			--image-size "$size" --batch "$pairs" --head-hidden "$hidden" --head-out "$out" --tau "$tau" \
			--steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS"); then
			tp=$(json_num "$tj" pairs_per_s)
			echo "   pytorch (torch_step.py): $tp pairs/s, $(json_num "$tj" ms_per_step) ms/step" >&2
		else
			tp="error"
			failed=1
		fi
		if [ "$sp" != "error" ] && [ "$tp" != "error" ] && [ -n "$tp" ]; then
			ratio=$(awk -v a="$sp" -v b="$tp" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
		fi
	fi
	rows+=("$name|$desc|$sp|$tp|$ratio")
}

for c in $CASES; do
	case "$c" in
	a) run_case a 3 --set data.format=synthetic --set model.arch=resnet18 --set model.stem=cifar \
		--set model.width=64 --set data.image_size=32 --set train.batch_size=64 --set optim.name=lars --set optim.lr_scaling=linear ;;
	b) run_case b 1 --config configs/fashion-mnist.yaml ;;
	*)
		echo "bench-cpu.sh: unknown case '$c' in CASES; use a and/or b" >&2
		exit 2
		;;
	esac
done

echo
if [ "$have_torch" = 1 ]; then
	printf '%-4s %-40s %14s %15s %7s\n' case shape "simclr pairs/s" "pytorch pairs/s" ratio
	for r in "${rows[@]}"; do
		IFS='|' read -r n d s t q <<<"$r"
		printf '%-4s %-40s %14s %15s %7s\n' "$n" "$d" "$s" "$t" "$q"
	done
else
	printf '%-4s %-40s %14s\n' case shape "simclr pairs/s"
	for r in "${rows[@]}"; do
		IFS='|' read -r n d s _ _ <<<"$r"
		printf '%-4s %-40s %14s\n' "$n" "$d" "$s"
	done
fi
exit $failed
