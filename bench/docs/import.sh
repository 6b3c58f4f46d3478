#!/usr/bin/env bash
# Times importing a large OpenQASM circuit into a document (PUT /api/docs/{id}/qasm) on a
# release `qollab serve` (fresh SQLite data dir, loopback), while /healthz is probed
# every 50 ms: the import runs on the blocking pool and must not stall other requests.
#
#   bench/docs/import.sh                 # 40,000 gates, 4 imports
#   GATES=10000 RUNS=2 bench/docs/import.sh
#
# QOLLAB_BIN: a binary to use instead of building (release). Needs curl and python3.
set -euo pipefail
GATES=${GATES:-40000}
RUNS=${RUNS:-4}
TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${QOLLAB_BIN:-}" ]; then
	cargo build --release -q -p qollab-server --bin qollab
fi
QOLLAB=${QOLLAB_BIN:-$TARGET/release/qollab}
DATA=$(mktemp -d -t qollab-import.XXXXXX)
LOG="$DATA/server.log"
PID=""
PROBE=""
cleanup() {
	[ -n "$PROBE" ] && kill "$PROBE" 2>/dev/null
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$DATA"
}
trap cleanup EXIT
QOLLAB_BIND=127.0.0.1:0 QOLLAB_DATA_DIR="$DATA/data" QOLLAB_LOG=warn "$QOLLAB" serve >"$LOG" 2>&1 &
PID=$!
URL=""
for _ in $(seq 1 300); do
	URL=$(sed -n 's|^qollab listening on ||p' "$LOG" | head -1)
	[ -n "$URL" ] && break
	sleep 0.1
done
[ -n "$URL" ] || { cat "$LOG"; exit 1; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(curl -sf "$URL/api/auth/register" -H 'content-type: application/json' \
	-d '{"email":"bench@example.org","password":"correct horse battery","name":"Bench"}' | json "['access_token']")
AUTH="authorization: Bearer $TOKEN"
WS=$(curl -sf "$URL/api/workspaces" -H "$AUTH" -H 'content-type: application/json' -d '{"name":"bench"}' | json "['id']")
QASM="$DATA/big.qasm"
python3 - "$GATES" >"$QASM" <<'PY'
import random, sys
n = int(sys.argv[1]); random.seed(7)
print('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[20];')
for i in range(n):
    a = random.randrange(20)
    if i % 3 == 0:
        b = (a + 1 + random.randrange(19)) % 20
        print(f"cx q[{a}],q[{b}];")
    else:
        print(f"{random.choice(['h','x','t','s','sdg','tdg'])} q[{a}];")
PY
echo "server $URL, $(wc -c <"$QASM") bytes of OpenQASM, $GATES gates"
# /healthz every 50 ms during the imports; the slowest answer is reported.
(
	while true; do
		curl -s -o /dev/null -w '%{time_total}\n' --max-time 5 "$URL/healthz" >>"$DATA/healthz.txt" || echo 5 >>"$DATA/healthz.txt"
		sleep 0.05
	done
) &
PROBE=$!
for i in $(seq 1 "$RUNS"); do
	DOC=$(curl -sf "$URL/api/workspaces/$WS/docs" -H "$AUTH" -H 'content-type: application/json' -d "{\"name\":\"big $i\"}" | json "['id']")
	T=$(curl -s -o "$DATA/out.json" -w '%{http_code} %{time_total}' -X PUT "$URL/api/docs/$DOC/qasm" -H "$AUTH" \
		-H 'content-type: text/plain' --data-binary @"$QASM")
	OPS=$(json "['stats']['total_gates']" <"$DATA/out.json" 2>/dev/null || head -c 300 "$DATA/out.json")
	echo "import $i: HTTP ${T% *}, ${T#* } s; document gates: $OPS"
done
kill "$PROBE" 2>/dev/null; PROBE=""
sort -n "$DATA/healthz.txt" | awk '{a[NR]=$1} END {printf "healthz during imports: %d probes, p50 %.1f ms, max %.1f ms\n", NR, a[int(NR/2)+1]*1000, a[NR]*1000}'
