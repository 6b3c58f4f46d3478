#!/usr/bin/env bash
# Soak test (not in CI): a release `qollab serve` under mixed load for DURATION seconds
# (default 30 minutes) — documents with several editors each, jobs, event-stream
# subscribers, and every client reconnecting at each cycle — while the server's RSS is
# sampled. Reports the RSS growth after warm-up (target < 10 %) and checks that once the
# load stops every room is unloaded and every connection is gone (/metrics gauges
# qollab_docs_rooms_open and qollab_docs_connections back at 0). Loopback, fresh SQLite
# data dir. Run from the repo root:
#
#   bench/soak/run.sh                         # 30 minutes
#   DURATION=600 bench/soak/run.sh            # 10 minutes
#
# Knobs (environment): DURATION (s, default 1800), WARMUP (s of load before the RSS
# baseline, default DURATION/10, at least 60), CYCLE (s per load cycle; all clients
# reconnect between cycles; default 60), ROOMS (10), EDITORS (editors per room, 4),
# RATE (edits per second per editor, 2), JOBS (jobs per cycle, 200), SUBSCRIBERS (event
# stream subscribers, 20), FRESH_ROOMS (1: new documents every cycle, so the rooms of
# the last cycle unload and a document's growing edit history — every overwritten value
# stays in the CRDT as a tombstone — is not counted as the server's growth; default 0),
# ROOMS=0 or JOBS=0 runs one half of the load alone; SAMPLE (s between RSS samples, 5),
# PROFILE (release|debug),
# SOAK_OUT (directory for rss.tsv, per-cycle JSON lines and the server log),
# QOLLAB_BIN and LOADGEN_BIN (binaries to use instead of building), CARGO_TARGET_DIR.
# Needs curl.
set -euo pipefail

DURATION=${DURATION:-1800}
WARMUP=${WARMUP:-$((DURATION / 10 > 60 ? DURATION / 10 : 60))}
CYCLE=${CYCLE:-60}
ROOMS=${ROOMS:-10}
EDITORS=${EDITORS:-4}
RATE=${RATE:-2}
JOBS=${JOBS:-200}
SUBSCRIBERS=${SUBSCRIBERS:-20}
SAMPLE=${SAMPLE:-5}
PROFILE=${PROFILE:-release}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${SOAK_OUT:-$(mktemp -d -t qollab-soak.XXXXXX)}
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || true
[ "$WARMUP" -lt "$DURATION" ] || {
	echo "WARMUP ($WARMUP s) must be shorter than DURATION ($DURATION s)" >&2
	exit 2
}

log() { echo "== $(date -u +%H:%M:%S) $*" >&2; }
json_field() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }
# /metrics answers only with the operator's token.
METRICS_TOKEN="soak-metrics-$RANDOM$RANDOM"
# awk reads to the end: an early exit would SIGPIPE curl and, under pipefail, fail the caller.
metric() { curl -sf "$URL/metrics" -H "authorization: Bearer $METRICS_TOKEN" | awk -v m="$1" '$1 == m { v = $2 } END { if (v != "") print v }'; }

if [ -z "${QOLLAB_BIN:-}" ]; then
	log "building qollab and qollab-load ($PROFILE)"
	if [ "$PROFILE" = release ]; then
		cargo build --release -q -p qollab-server --bin qollab -p qollab-client --bin qollab-load
	else
		cargo build -q -p qollab-server --bin qollab -p qollab-client --bin qollab-load
	fi
fi
QOLLAB=${QOLLAB_BIN:-$TARGET/$PROFILE/qollab}
LOADGEN=${LOADGEN_BIN:-$TARGET/$PROFILE/qollab-load}

DATA=$(mktemp -d -t qollab-soak-data.XXXXXX)
PID=""
SAMPLER=""
cleanup() {
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$DATA"
}
trap cleanup EXIT

# Rooms unload 5 s after their last peer (default 30 s) so that the end check is quick;
# tokens outlive the run.
QOLLAB_BIND=127.0.0.1:0 QOLLAB_DATA_DIR="$DATA" QOLLAB_LOG=warn \
	QOLLAB_ACCESS_TOKEN_TTL_SECS=$((DURATION * 2 + 3600)) QOLLAB_AUTH_RATE_PER_MINUTE=10000 \
	QOLLAB_DOC_UNLOAD_GRACE_SECS=5 QOLLAB_METRICS_TOKEN="$METRICS_TOKEN" \
	"$QOLLAB" serve >"$OUT/server.log" 2>&1 &
PID=$!
ADDR=""
for _ in $(seq 1 300); do
	ADDR=$(sed -n 's|^qollab listening on http://||p' "$OUT/server.log" 2>/dev/null | head -1 || true)
	[ -n "$ADDR" ] && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
[ -n "$ADDR" ] || {
	cat "$OUT/server.log" >&2
	exit 1
}
URL="http://$ADDR"

TOKEN=$(curl -sf "$URL/api/auth/register" -H 'content-type: application/json' \
	-d "{\"email\":\"soak-$RANDOM$RANDOM@example.com\",\"password\":\"soak test password\",\"name\":\"Soak\"}" |
	json_field access_token)
# Plans are the operator's decision: a free organization, then the admin command.
ORG=$(curl -sf "$URL/api/orgs" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
	-d '{"name":"soak"}' | json_field id)
QOLLAB_DATA_DIR="$DATA" QOLLAB_LOG=warn "$QOLLAB" admin orgs set-plan "$ORG" enterprise >/dev/null
WS=$(curl -sf "$URL/api/workspaces" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
	-d "{\"name\":\"soak\",\"org_id\":\"$ORG\"}" | json_field id)
# The documents the editors work on: ROOMS new ones (with FRESH_ROOMS=1, every cycle).
new_rooms() {
	: >"$OUT/rooms.txt"
	for i in $(seq 1 "$ROOMS"); do
		curl -sf "$URL/api/workspaces/$WS/docs" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
			-d "{\"name\":\"soak $i\"}" | json_field id >>"$OUT/rooms.txt"
	done
}
new_rooms
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -h | awk '/^Mem:/ {print $2}') memory; load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "qollab pid $PID on $URL; ${DURATION}s (warm-up ${WARMUP}s) in ${CYCLE}s cycles: $ROOMS rooms x $EDITORS editors at $RATE edits/s, $JOBS jobs and $SUBSCRIBERS subscribers per cycle"

START=$(date +%s)
# RSS sampler: seconds since start, RSS in KiB, loaded rooms, document connections,
# SQLite's heap in KiB (its page caches, bounded, fill as the database grows).
(
	echo -e "t_s\trss_kib\trooms_open\tconnections\tsqlite_kib" >"$OUT/rss.tsv"
	while kill -0 "$PID" 2>/dev/null; do
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)
		sqlite=$(metric qollab_sqlite_memory_bytes | awk '{ printf "%d", $1 / 1024 }' || true)
		echo -e "$(($(date +%s) - START))\t$rss\t$(metric qollab_docs_rooms_open || echo)\t$(metric qollab_docs_connections || echo)\t${sqlite:-0}" >>"$OUT/rss.tsv"
		sleep "$SAMPLE"
	done
) &
SAMPLER=$!

CYCLES=0
FAILURES=0
while [ $(($(date +%s) - START + CYCLE)) -le "$DURATION" ] || [ "$CYCLES" -eq 0 ]; do
	CYCLES=$((CYCLES + 1))
	CYCLE_START=$(date +%s)
	if [ "${FRESH_ROOMS:-0}" = 1 ] && [ "$CYCLES" -gt 1 ]; then
		new_rooms
	fi
	# Documents: every editor connects, edits for the cycle, checks convergence, closes.
	# (ROOMS=0 or JOBS=0 leaves that half out, to tell which half a growth comes from.)
	DOCS=""
	JOBSGEN=""
	if [ "$ROOMS" -gt 0 ]; then
		"$LOADGEN" --url "ws://$ADDR/ws/docs" --token "$TOKEN" --room-ids-file "$OUT/rooms.txt" \
			-n $((ROOMS * EDITORS)) -e "$RATE" -d $((CYCLE - 10)) --warmup 1 --settle 5 \
			>"$OUT/docs-$CYCLES.json" 2>>"$OUT/loadgen.log" &
		DOCS=$!
	fi
	# Jobs with event-stream subscribers (they connect and leave with each cycle).
	if [ "$JOBS" -gt 0 ]; then
		"$LOADGEN" jobs --server "$URL" --token "$TOKEN" --workspace "$WS" --jobs "$JOBS" \
			--subscribers "$SUBSCRIBERS" --submitters 4 --shots 100 --timeout $((CYCLE - 5)) \
			>"$OUT/jobs-$CYCLES.json" 2>>"$OUT/loadgen.log" &
		JOBSGEN=$!
	fi
	if [ -n "$DOCS" ]; then
		wait "$DOCS" || FAILURES=$((FAILURES + 1))
		if ! grep -q '"rooms_diverged":0' "$OUT/docs-$CYCLES.json"; then
			log "cycle $CYCLES: documents did not converge: $(cat "$OUT/docs-$CYCLES.json")"
			FAILURES=$((FAILURES + 1))
		fi
	fi
	if [ -n "$JOBSGEN" ]; then
		wait "$JOBSGEN" || FAILURES=$((FAILURES + 1))
	fi
	# Without the documents' half, a cycle still lasts as long (the jobs' half is quick).
	REST=$((CYCLE - 8 - ($(date +%s) - CYCLE_START)))
	if [ "$REST" -gt 0 ]; then sleep "$REST"; fi
	log "cycle $CYCLES done at $(($(date +%s) - START))s, RSS $(tail -1 "$OUT/rss.tsv" | cut -f2) KiB"
done
LOAD_END=$(($(date +%s) - START))

# Every room unloads and every connection closes once the clients are gone.
UNLOADED=no
for _ in $(seq 1 120); do
	# A gauge never set (no room was ever opened: ROOMS=0) is not reported: that is 0.
	rooms=$(metric qollab_docs_rooms_open || echo "?")
	conns=$(metric qollab_docs_connections || echo "?")
	rooms=${rooms:-0}
	conns=${conns:-0}
	if [ "$rooms" = 0 ] && [ "$conns" = 0 ]; then
		UNLOADED=yes
		break
	fi
	sleep 0.5
done
sleep "$SAMPLE"
kill "$SAMPLER" 2>/dev/null || true
SAMPLER=""

# RSS after warm-up: the mean of the samples in the first cycle after WARMUP; at the end:
# the mean of the samples in the last cycle of load. The same for SQLite's heap, and for
# the RSS without it (what the server's own code holds, plus the allocator's slack).
summary=$(awk -F'\t' -v w="$WARMUP" -v c="$CYCLE" -v e="$LOAD_END" '
	NR > 1 && $2 > 0 {
		if ($1 >= w && $1 < w + c) { bs += $2; bq += $5; bn++ }
		if ($1 >= e - c && $1 < e) { es += $2; eq += $5; en++ }
		if ($2 > max) max = $2
		last = $2
	}
	END {
		b = bn ? bs / bn : 0; x = en ? es / en : 0
		qb = bn ? bq / bn : 0; qx = en ? eq / en : 0
		printf "{\"rss_after_warmup_mib\":%.1f,\"rss_end_of_load_mib\":%.1f,\"rss_max_mib\":%.1f,\"rss_after_unload_mib\":%.1f,\"growth_pct\":%.1f,",
			b / 1024, x / 1024, max / 1024, last / 1024, (b ? (x - b) * 100 / b : 0)
		printf "\"sqlite_after_warmup_mib\":%.1f,\"sqlite_end_of_load_mib\":%.1f,\"growth_without_sqlite_pct\":%.1f}",
			qb / 1024, qx / 1024, (b - qb > 0 ? ((x - qx) - (b - qb)) * 100 / (b - qb) : 0)
	}' "$OUT/rss.tsv")
growth=$(echo "$summary" | grep -o '"growth_pct":[-0-9.]*' | cut -d: -f2)
# A half left out (ROOMS=0 or JOBS=0) has no files and no matches: 0, not a pipefail exit.
total() {
	local f
	for f in "$@"; do if [ -f "$f" ]; then cat "$f"; fi; done |
		{ grep -o "\"$FIELD\":[0-9]*" || true; } | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'
}
sent=$(FIELD=sent total "$OUT"/docs-*.json)
jobs_done=$(FIELD=finished_everywhere total "$OUT"/jobs-*.json)
echo "{\"duration_s\":$LOAD_END,\"warmup_s\":$WARMUP,\"cycles\":$CYCLES,\"rooms\":$ROOMS,\"editors_per_room\":$EDITORS,\"edits_sent\":${sent:-0},\"jobs_per_cycle\":$JOBS,\"jobs_finished\":${jobs_done:-0},\"subscribers\":$SUBSCRIBERS,\"load_failures\":$FAILURES,\"all_unloaded\":\"$UNLOADED\",$(echo "$summary" | sed 's/^{//')" |
	tee "$OUT/summary.json"
log "RSS samples in $OUT/rss.tsv"

STATUS=0
if awk -v g="$growth" 'BEGIN { exit !(g >= 10) }'; then
	log "FAIL: RSS grew ${growth}% after warm-up (target < 10%)"
	STATUS=1
fi
if [ "$UNLOADED" != yes ]; then
	log "FAIL: rooms or connections still open after the load: rooms_open=$(metric qollab_docs_rooms_open) connections=$(metric qollab_docs_connections)"
	STATUS=1
fi
if [ "$FAILURES" -ne 0 ]; then
	log "FAIL: $FAILURES load cycle(s) failed (see $OUT/loadgen.log and the cycle JSON files)"
	STATUS=1
fi
exit "$STATUS"
