#!/bin/sh
# Pretrains the same configuration in fp32 and in bf16 and prints their loss
# curves side by side: per step, per epoch (mean), and the largest relative
# difference (docs/precision.md).
#
#   tools/precision/curves.sh OUTDIR [simclr pretrain flags...]
#   tools/precision/curves.sh /tmp/curves                       # the built-in default
#   tools/precision/curves.sh /tmp/fm --config configs/fashion-mnist.yaml --set data.limit=5120 --epochs 2
#
# SIMCLR names the binary (default bin/simclr). With SKIP_TRAIN=1 it only
# compares OUTDIR/fp32 and OUTDIR/bf16 from an earlier call.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [simclr pretrain flags...]" >&2; exit 2; }
out=$1
shift
bin=${SIMCLR:-bin/simclr}
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
	for p in fp32 bf16; do
		[ ! -e "$out/$p" ] || { echo "$out/$p exists; remove it or set SKIP_TRAIN=1" >&2; exit 2; }
		"$bin" pretrain --quiet --precision "$p" --out "$out/$p" "$@"
	done
fi
# metrics.csv: epoch,step,loss,lr,pairs_per_s,seconds,knn_top1
paste -d, "$out/fp32/metrics.csv" "$out/bf16/metrics.csv" | awk -F, '
function abs(x) { return x < 0 ? -x : x }
NR == 1 { printf "| step | epoch | fp32 loss | bf16 loss | relative difference |\n|---|---|---|---|---|\n"; next }
{
	if ($2 != $9) { print "step " $2 " and " $9 " differ: the runs do not match" > "/dev/stderr"; exit 1 }
	rel = abs($10 - $3) / abs($3)
	printf "| %d | %d | %.6f | %.6f | %.2e |\n", $2, $1, $3, $10, rel
	if (rel > maxrel) { maxrel = rel; maxstep = $2 }
	if (!($1 in n)) { order[++epochs] = $1 }
	n[$1]++; sa[$1] += $3; sb[$1] += $10
	last = rel
}
END {
	printf "\n| epoch | fp32 mean loss | bf16 mean loss | relative difference |\n|---|---|---|---|\n"
	for (i = 1; i <= epochs; i++) {
		e = order[i]; ma = sa[e] / n[e]; mb = sb[e] / n[e]
		printf "| %d | %.4f | %.4f | %.2e |\n", e, ma, mb, abs(mb - ma) / abs(ma)
	}
	printf "\nlargest per-step relative difference: %.2e (step %d); last step: %.2e\n", maxrel, maxstep, last
}'
