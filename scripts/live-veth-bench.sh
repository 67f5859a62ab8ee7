#!/usr/bin/env bash
# live-veth-bench.sh CAPTURE [LOOPS [MONITOR FLAGS...]]: measure live capture
# (issue #11 §7). A veth pair stands in for a span port: tcpreplay sends
# CAPTURE LOOPS times (default 100) as fast as it can (--topspeed) into one
# end, `sluice monitor` captures on the other with its default kernel filter
# (or the MONITOR FLAGS given, e.g. --snap-other 0 or --bpf EXPR), and the
# script prints what tcpreplay achieved (packets/s) beside what the monitor's
# final stats event says: packets seen and the kernel's drop count (frames the
# ring had no room for: the agent did not keep up), and the CPU time the
# monitor used.
#
# Needs root (veth, AF_PACKET). Installs Debian's tcpreplay when missing. Not
# run in CI: the figures depend on the machine. docs/performance.md quotes
# them ("Live capture").
set -euo pipefail

if [ $# -lt 1 ]; then
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
capture=$1
loops=${2:-100}
shift $(($# < 2 ? $# : 2))
[ "$(id -u)" = 0 ] || { echo "live-veth-bench: needs root (veth pair, AF_PACKET)" >&2; exit 2; }
[ -r "$capture" ] || { echo "live-veth-bench: cannot read $capture" >&2; exit 2; }
command -v tcpreplay >/dev/null || apt-get install -y tcpreplay >/dev/null

a=sluicebench0 b=sluicebench1
tmp=$(mktemp -d)
mon=
cleanup() {
	[ -n "$mon" ] && kill "$mon" 2>/dev/null && wait "$mon" 2>/dev/null
	ip link del "$a" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

repo=$(cd "$(dirname "$0")/.." && pwd)
(cd "$repo" && CGO_ENABLED=0 go build -o "$tmp/sluice" ./cmd/sluice)

ip link del "$a" 2>/dev/null || true
ip link add "$a" type veth peer name "$b"
# The largest frame a capture may hold (offloaded segments of a host's own
# capture are up to 64 KiB); no IPv6 on the pair, so the only frames on it
# are the capture's.
for i in "$a" "$b"; do
	ip link set "$i" mtu 65535
	sysctl -qw "net.ipv6.conf.$i.disable_ipv6=1"
	ip link set "$i" up
done

port=$(( 20000 + RANDOM % 20000 ))
"$tmp/sluice" monitor --iface "$b" -o "$tmp/eve.json" --metrics "127.0.0.1:$port" "$@" 2>"$tmp/monitor.err" &
mon=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done

echo "tcpreplay --topspeed --loop $loops --unique-ip -i $a $capture"
tcpreplay --topspeed --loop "$loops" --unique-ip -i "$a" "$capture" 2>&1 | grep -E 'Actual|Rated|Failed|Truncated' | sed 's/^ */  /'
sleep 2 # the monitor drains its ring
# CPU time the monitor used (user + system, clock ticks in /proc/PID/stat).
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$mon/stat")
kill -INT "$mon"
wait "$mon" || { echo "monitor failed:"; cat "$tmp/monitor.err"; exit 1; }
mon=
stats=$(grep '"event_type":"stats"' "$tmp/eve.json" | tail -1)
echo "sluice monitor --iface $b $* (CPU ${cpu} s)"
echo "$stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)["stats"]
print("  packets %d, wire bytes %d, undecodable %d, flows %d (ignored %d)" % (s["packets"], s["bytes"], s["undecodable"], s["flows"], s["flows_ignored"]))
print("  drops: kernel %d, gaps %d, bytes %d" % (s["drops"]["kernel"], s["drops"]["gaps"], s["drops"]["bytes"]))
'
