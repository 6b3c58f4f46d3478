#!/usr/bin/env bash
# Jobs benchmarks: small-job throughput end to end (REST submit -> database queue ->
# executor pool -> stored transitions -> events at every subscriber) and the latency from
# each job state change to its event arriving at 200 subscribers of the workspace's
# stream. Once on SQLite (fresh data dir), once on PostgreSQL (a fresh database, dropped
# afterwards). Then, in the same run, the same job on the seeds' stack as a peer: Celery
# with Redis as broker and result backend (bench/jobs/celery.sh; issue #12). Loopback
# only. Run from the repo root:
#
#   bench/jobs/run.sh                  # both backends
#   bench/jobs/run.sh sqlite           # or: postgres
#
# Knobs (environment): JOBS (default 2000), SUBSCRIBERS (200), SUBMITTERS (32),
# PG_URL (default postgres://postgres@127.0.0.1:5432), BENCH_OUT (directory for the JSON
# lines and server logs), CARGO_TARGET_DIR (default target), QOLLAB_BIN and LOADGEN_BIN
# (binaries to use instead of building, e.g. a peer build measured in the same session),
# CELERY (none: skip the Celery + Redis peer; its own knobs, CELERY_REDIS_URL and
# QOLLAB_BENCH_VENV, are in celery.sh).
#
# QUEUE_DEPTH=D: the submitters keep at most D jobs unfinished while they have jobs left,
# and the result's `held` is the throughput while the queue was that deep: from the first
# time a submitter had to wait for it to the last submission (the server admits
# D + SUBMITTERS unfinished jobs: QOLLAB_JOB_QUEUE_PER_SLOT). The queue only fills if the
# submitters outrun the server long enough: at ~400 submissions/s against ~250 jobs/s,
# 10,000 takes ~25,000 submissions, so give JOBS room (no `held` in the result: it never
# filled). Issue #12 compares QUEUE_DEPTH=10000 with QUEUE_DEPTH=100, CELERY=none:
#
#   QUEUE_DEPTH=100 JOBS=6100 CELERY=none bench/jobs/run.sh
#   QUEUE_DEPTH=10000 JOBS=32000 CELERY=none bench/jobs/run.sh
set -euo pipefail

MODE=${1:-all}
case "$MODE" in all | sqlite | postgres) ;; *)
	echo "usage: $0 [all|sqlite|postgres]" >&2
	exit 2
	;;
esac
JOBS=${JOBS:-2000}
SUBSCRIBERS=${SUBSCRIBERS:-200}
SUBMITTERS=${SUBMITTERS:-32}
QUEUE_DEPTH=${QUEUE_DEPTH:-}
# Extra environment of every server, and extra arguments of the generator.
SERVER_ENV=()
DEPTH_ARGS=()
if [ -n "$QUEUE_DEPTH" ]; then
	# The enterprise plan's 32 slots times this must admit the depth plus the submitters.
	SERVER_ENV+=("QOLLAB_JOB_QUEUE_PER_SLOT=$(((QUEUE_DEPTH + SUBMITTERS) / 32 + 2))")
	DEPTH_ARGS+=(--queue-depth "$QUEUE_DEPTH" --timeout 1800)
fi
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${BENCH_OUT:-$(mktemp -d -t qollab-jobs-bench.XXXXXX)}
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || true

PIDS=()
TMPDIRS=()
DBS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	for d in "${TMPDIRS[@]}"; do rm -rf "$d"; done
	for db in "${DBS[@]}"; do
		psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT
log() { echo "== $*" >&2; }
METRICS_TOKEN=bench-metrics-token-$RANDOM$RANDOM
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
json_field() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# The generator's CPU seconds (user + system) when /usr/bin/time is there.
TIMER=()
[ -x /usr/bin/time ] && TIMER=(/usr/bin/time -f "%U %S" -o "$OUT/generator-cpu")

if [ -z "${QOLLAB_BIN:-}" ]; then
	log "building qollab and qollab-load (release)"
	cargo build --release -q -p qollab-server --bin qollab -p qollab-client --bin qollab-load
fi
QOLLAB=${QOLLAB_BIN:-$TARGET/release/qollab}
LOADGEN=${LOADGEN_BIN:-$TARGET/release/qollab-load}
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -h | awk '/^Mem:/ {print $2}') memory; load average $(load_avg)"

# bench LABEL [ENV=VALUE ...]: one server, one enterprise organization, one workspace,
# one load run.
bench() {
	local label=$1
	shift
	local dir
	dir=$(mktemp -d -t qollab-jobs-data.XXXXXX)
	TMPDIRS+=("$dir")
	env QOLLAB_BIND=127.0.0.1:0 QOLLAB_DATA_DIR="$dir" QOLLAB_LOG=warn \
		QOLLAB_METRICS_TOKEN="$METRICS_TOKEN" QOLLAB_ACCESS_TOKEN_TTL_SECS=7200 QOLLAB_AUTH_RATE_PER_MINUTE=10000 \
		"${SERVER_ENV[@]}" "$@" "$QOLLAB" serve >"$OUT/$label.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	local addr=""
	for _ in $(seq 1 300); do
		addr=$(sed -n 's|^qollab listening on http://||p' "$OUT/$label.log" 2>/dev/null | head -1 || true)
		[ -n "$addr" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$addr" ] || {
		cat "$OUT/$label.log" >&2
		exit 1
	}
	local url="http://$addr" token org ws
	token=$(curl -sf "$url/api/auth/register" -H 'content-type: application/json' \
		-d "{\"email\":\"bench-$RANDOM$RANDOM@example.com\",\"password\":\"benchmark password 1\",\"name\":\"Bench\"}" |
		json_field access_token)
	# Plans are the operator's decision: a free organization, then the admin command
	# (against the same database as the server: the bench's environment).
	org=$(curl -sf "$url/api/orgs" -H "authorization: Bearer $token" -H 'content-type: application/json' \
		-d '{"name":"bench"}' | json_field id)
	env QOLLAB_DATA_DIR="$dir" QOLLAB_LOG=warn "$@" "$QOLLAB" admin orgs set-plan "$org" enterprise >/dev/null
	ws=$(curl -sf "$url/api/workspaces" -H "authorization: Bearer $token" -H 'content-type: application/json' \
		-d "{\"name\":\"jobs bench\",\"org_id\":\"$org\"}" | json_field id)
	log "$label: qollab pid $pid on $url, workspace $ws; $JOBS jobs, $SUBSCRIBERS subscribers, $SUBMITTERS submitters"
	local out cpu0 cpu1 gen=""
	cpu0=$(cpu_s "$pid")
	out=$("${TIMER[@]}" "$LOADGEN" jobs --server "$url" --token "$token" --workspace "$ws" \
		--jobs "$JOBS" --subscribers "$SUBSCRIBERS" --submitters "$SUBMITTERS" "${DEPTH_ARGS[@]}")
	cpu1=$(cpu_s "$pid")
	# The server's own figures of the run (round sizes, intake batches, busy retries).
	curl -sf "$url/metrics" -H "authorization: Bearer $METRICS_TOKEN" >"$OUT/$label.metrics" || true
	[ -s "$OUT/generator-cpu" ] && gen=$(awk '{ printf "%.1f", $1 + $2 }' "$OUT/generator-cpu")
	# Where the two cores went: the server's CPU seconds during the run, the generator's.
	echo "$label load_avg=[$(load_avg)] server_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.1f", b-a}') generator_cpu_s=${gen:-?} $out" |
		tee -a "$OUT/results.txt"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

if [ "$MODE" = all ] || [ "$MODE" = sqlite ]; then
	bench sqlite
fi
if [ "$MODE" = all ] || [ "$MODE" = postgres ]; then
	DB="qollab_jobs_bench_$(date +%s)_$$"
	psql -q -v ON_ERROR_STOP=1 "$PG_URL/postgres" -c "CREATE DATABASE \"$DB\""
	DBS+=("$DB")
	bench postgres QOLLAB_DATABASE_URL="$PG_URL/$DB" QOLLAB_JWT_SECRET=benchmark-secret-benchmark-secret-0123
fi
# A peer run with failed jobs still prints its line (failed > 0), then fails the script.
CELERY_RC=0
if [ "${CELERY:-}" != none ]; then
	log "celery: the same job on Celery + Redis, $JOBS jobs, $SUBMITTERS submitters (CELERY=none skips it)"
	out=$(BENCH_OUT="$OUT" JOBS="$JOBS" SUBMITTERS="$SUBMITTERS" "$(dirname "$0")/celery.sh") || CELERY_RC=$?
	[ -z "$out" ] || echo "celery load_avg=[$(load_avg)] $out" | tee -a "$OUT/results.txt"
fi
log "results in $OUT/results.txt"
exit "$CELERY_RC"
