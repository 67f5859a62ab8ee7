#!/usr/bin/env bash
# fuzz.sh [FUZZTIME]: run every fuzz target of the module for FUZZTIME
# (default 30s) each, one after the other.
#
# A failing target does not stop the run: the others still run, and the
# summary at the end counts the targets run, passed and failed and names the
# failed ones (a failing input is written to the package's
# testdata/fuzz/<FuzzName>/ by go test, to commit with its fix). A package
# whose tests do not build is named too: its targets cannot even be listed.
# Exits 1 if a target failed or a package did not build. Usage: make fuzz
# FUZZTIME=10s.
set -uo pipefail

fuzztime=${1:-30s}
# FUZZMINIMIZE bounds the minimisation of each input that finds new code,
# in executions: a target whose inputs keep finding new code (FuzzObserve,
# whose maps and hit counts make nearly every early input "interesting")
# spent its fuzz time minimising them: 1 execution a second with 5s, 130
# a second with 20x (go test -fuzz FuzzObserve -parallel 1, 30 s each).
minimize=${FUZZMINIMIZE:-20x}
go=${GO:-go}
module=$($go list -m)
trap 'echo; echo "fuzz: interrupted"; exit 130' INT TERM

run=0
passed=0
failed=() # targets
broken=() # packages whose tests do not build
for pkg in $($go list ./...); do
	if ! list=$($go test -list '^Fuzz' "$pkg" 2>&1); then
		echo "== $pkg: the tests do not build"
		echo "$list"
		broken+=("${pkg#"$module"/}")
		continue
	fi
	for f in $(grep '^Fuzz' <<<"$list"); do
		run=$((run + 1))
		echo "== $pkg $f"
		if $go test -run '^$' -fuzz "^$f\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg"; then
			passed=$((passed + 1))
		else
			failed+=("${pkg#"$module"/}.$f")
		fi
	done
done

echo
echo "fuzz: $run targets run for $fuzztime each, $passed passed, ${#failed[@]} failed"
for f in "${failed[@]}"; do
	echo "  FAILED $f"
done
for p in "${broken[@]}"; do
	echo "  NOT RUN $p: its tests do not build"
done
[ ${#failed[@]} -eq 0 ] && [ ${#broken[@]} -eq 0 ]
