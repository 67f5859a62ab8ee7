#!/usr/bin/env bash
# same.sh REF: does this tree write the same bytes as commit REF?
#
# A refactoring must not change one byte of what Sluice writes. This script
# builds REF's binary and this tree's, feeds both the same inputs and compares
# what they write:
#   - every shared capture (../shared/pcaps or $SLUICE_PCAPS), every capture in
#     testdata/ and a capture of every simulator scenario (made once, by REF's
#     binary, so both read the same file), replayed with --events all and
#     --events alerts;
#   - learn then monitor: the normal scenario learned into a baseline
#     database (--mode learn), then every attack scenario judged against a
#     copy of it (--mode monitor), and an auto-mode run over normal + attack;
#     the events and `baseline export` of each database (the audit trail's
#     wall-clock times blanked: they say when the run happened).
# It prints one line per difference and a summary, and exits 1 when anything
# differs. Usage: make same REF=<commit> (or scripts/same.sh <commit>).
set -euo pipefail

ref=${1:?usage: scripts/same.sh REF}
top=$(git rev-parse --show-toplevel)
cd "$top"
refsha=$(git rev-parse --verify --quiet "$ref^{commit}") || { echo "same: unknown commit $ref" >&2; exit 2; }
work=${SAME_DIR:-$top/.same}
refdir=$work/ref-${refsha:0:12}
mkdir -p "$refdir" "$work/new"
export CGO_ENABLED=0

if [ ! -x "$refdir/sluice" ]; then
	echo "same: building $ref (${refsha:0:12})"
	src=$(mktemp -d)
	git archive "$refsha" | tar -x -C "$src"
	(cd "$src" && go build -trimpath -o "$refdir/sluice" ./cmd/sluice)
	rm -rf "$src"
fi
echo "same: building this tree"
go build -trimpath -o "$work/new/sluice" ./cmd/sluice
REFBIN=$refdir/sluice
NEWBIN=$work/new/sluice

# Inputs.
scen=$refdir/scenarios
if [ ! -f "$scen/.done" ]; then
	mkdir -p "$scen"
	for s in $("$REFBIN" sim scenarios | awk '{print $1}'); do
		"$REFBIN" sim capture --scenario "$s" --seed 1 --out "$scen/$s.pcap" >/dev/null
	done
	touch "$scen/.done"
fi
pcaps=${SLUICE_PCAPS:-$top/../shared/pcaps}
caps=()
if [ -d "$pcaps" ]; then
	while IFS= read -r f; do caps+=("$f"); done < <(find "$pcaps" -name '*.pcap*' -type f | sort)
else
	echo "same: no shared captures at $pcaps (set SLUICE_PCAPS); comparing the rest"
fi
caps+=("$top"/testdata/*.pcap "$scen"/*.pcap)

out=$work/out
rm -rf "$out"
mkdir -p "$out/ref" "$out/new"
diffs=0
compared=0
differ() { echo "DIFFERENT: $1"; diffs=$((diffs + 1)); }

# replay_both NAME ARGS...: run both binaries with ARGS (-o is appended),
# compare the events and the exit status.
replay_both() {
	local name=$1
	shift
	local rc_ref=0 rc_new=0
	"$REFBIN" replay "$@" -o "$out/ref/$name.json" 2>"$out/ref/$name.err" || rc_ref=$?
	"$NEWBIN" replay "$@" -o "$out/new/$name.json" 2>"$out/new/$name.err" || rc_new=$?
	compared=$((compared + 1))
	if [ $rc_ref != $rc_new ]; then
		differ "$name: exit status $rc_ref (ref) vs $rc_new (new)"
	elif ! cmp -s "$out/ref/$name.json" "$out/new/$name.json"; then
		differ "$name: $(cmp "$out/ref/$name.json" "$out/new/$name.json" 2>&1 | head -1)"
	fi
}

# export_both NAME: compare the exports of the two runs' databases.
export_both() {
	local name=$1 side
	for side in ref new; do
		local bin=$REFBIN
		[ $side = new ] && bin=$NEWBIN
		"$bin" baseline export --db "$out/$side/$name.db" -o - |
			sed -E 's/"at": "[^"]*"/"at": "(wall clock)"/' >"$out/$side/$name.export.json"
	done
	compared=$((compared + 1))
	cmp -s "$out/ref/$name.export.json" "$out/new/$name.export.json" ||
		differ "$name export: $(cmp "$out/ref/$name.export.json" "$out/new/$name.export.json" 2>&1 | head -1)"
}

for c in "${caps[@]}"; do
	base=$(basename "$c")
	base=${base%.pcap*}
	for ev in all alerts; do
		replay_both "$base.$ev" --events "$ev" "$c"
	done
done

# Learn on normal operation, then judge each attack against a copy.
for side in ref new; do
	bin=$REFBIN
	[ $side = new ] && bin=$NEWBIN
	"$bin" replay --db "$out/$side/learn.db" --mode learn -o "$out/$side/learn.normal.json" "$scen/normal.pcap"
done
compared=$((compared + 1))
cmp -s "$out/ref/learn.normal.json" "$out/new/learn.normal.json" || differ "learn.normal"
export_both learn
for s in "$scen"/*.pcap; do
	name=$(basename "$s" .pcap)
	[ "$name" = normal ] && continue
	for side in ref new; do
		bin=$REFBIN
		[ $side = new ] && bin=$NEWBIN
		cp "$out/$side/learn.db" "$out/$side/monitor.$name.db"
		"$bin" replay --db "$out/$side/monitor.$name.db" --mode monitor -o "$out/$side/monitor.$name.json" "$s" 2>/dev/null || true
		rm -f "$out/$side/auto.$name.db"
		"$bin" replay --db "$out/$side/auto.$name.db" --learn-for 60s -o "$out/$side/auto.$name.json" "$scen/normal.pcap" "$s" 2>/dev/null || true
	done
	for kind in monitor auto; do
		compared=$((compared + 1))
		cmp -s "$out/ref/$kind.$name.json" "$out/new/$kind.$name.json" ||
			differ "$kind.$name: $(cmp "$out/ref/$kind.$name.json" "$out/new/$kind.$name.json" 2>&1 | head -1)"
		export_both "$kind.$name"
	done
done

echo "same: $compared outputs compared against ${refsha:0:12} (${#caps[@]} captures), $diffs different"
[ $diffs = 0 ]
