#!/usr/bin/env bash
# AI streaming benchmarks: the time the server adds between a provider's streamed chunk
# and the `ai.message.delta` event holding it at each subscriber. The provider is a
# stand-in served by `qollab-load ai` on loopback (the one allowed stand-in: an
# OpenAI-compatible API), stamping every chunk as it writes it. A release `qollab serve`
# on a fresh SQLite data dir, an enterprise organization (set by the admin command).
# Run from the repo root:
#
#   bench/ai/run.sh
#
# Runs, each on a fresh server:
#   one      1 workspace × 20 subscribers, answers in turn, chunks 60 ms apart (slower
#            than the 50 ms coalescing window: every chunk is its own event)
#   fifty    50 workspaces × 20 subscribers (1,000 sockets), 50 answers streaming at once
#   fast     1 workspace × 20 subscribers, chunks 10 ms apart: coalescing holds chunks up
#            to 50 ms by design (≤ 20 delta events per second per answer)
#
# Knobs (environment): ANSWERS (per workspace, default 10), CHUNKS (per answer, 40),
# BENCH_OUT (directory for JSON lines and server logs), CARGO_TARGET_DIR (default target).
set -euo pipefail

ANSWERS=${ANSWERS:-10}
CHUNKS=${CHUNKS:-40}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${BENCH_OUT:-$(mktemp -d -t qollab-ai-bench.XXXXXX)}
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || true

PIDS=()
TMPDIRS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	for d in "${TMPDIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
log() { echo "== $*" >&2; }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
json_field() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ -z "${QOLLAB_BIN:-}" ]; then
	log "building qollab and qollab-load (release)"
	cargo build --release -q -p qollab-server --bin qollab -p qollab-client --bin qollab-load
fi
QOLLAB=${QOLLAB_BIN:-$TARGET/release/qollab}
LOADGEN=${LOADGEN_BIN:-$TARGET/release/qollab-load}
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -h | awk '/^Mem:/ {print $2}') memory; load average $(load_avg)"

# bench LABEL WORKSPACES SUBSCRIBERS GAP_MS
bench() {
	local label=$1 workspaces=$2 subscribers=$3 gap=$4
	local dir port
	dir=$(mktemp -d -t qollab-ai-data.XXXXXX)
	TMPDIRS+=("$dir")
	port=$(free_port)
	QOLLAB_BIND=127.0.0.1:0 QOLLAB_DATA_DIR="$dir" QOLLAB_LOG=warn \
		QOLLAB_ACCESS_TOKEN_TTL_SECS=7200 QOLLAB_AUTH_RATE_PER_MINUTE=10000 \
		QOLLAB_AI_BASE_URL="http://127.0.0.1:$port/v1" QOLLAB_AI_API_KEY=bench-key \
		QOLLAB_AI_MODEL=bench-stand-in QOLLAB_AI_CONCURRENCY=64 QOLLAB_AI_MAX_RETRIES=0 \
		"$QOLLAB" serve >"$OUT/$label.log" 2>&1 &
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
	local url="http://$addr" token org
	token=$(curl -sf "$url/api/auth/register" -H 'content-type: application/json' \
		-d "{\"email\":\"bench-$RANDOM$RANDOM@example.com\",\"password\":\"benchmark password 1\",\"name\":\"Bench\"}" |
		json_field access_token)
	# Plans are the operator's decision: a free organization, then the admin command.
	org=$(curl -sf "$url/api/orgs" -H "authorization: Bearer $token" -H 'content-type: application/json' \
		-d '{"name":"ai bench"}' | json_field id)
	QOLLAB_DATA_DIR="$dir" QOLLAB_LOG=warn "$QOLLAB" admin orgs set-plan "$org" enterprise >/dev/null
	log "$label: qollab pid $pid on $url; $workspaces workspace(s) × $subscribers subscribers, $ANSWERS answers × $CHUNKS chunks, ${gap} ms apart"
	local out
	out=$("$LOADGEN" ai --server "$url" --token "$token" --org "$org" --provider "127.0.0.1:$port" \
		--workspaces "$workspaces" --subscribers "$subscribers" --answers "$ANSWERS" \
		--chunks "$CHUNKS" --chunk-gap-ms "$gap")
	echo "$label load_avg=[$(load_avg)] $out" | tee -a "$OUT/results.txt"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

bench one 1 20 60
bench fifty 50 20 60
bench fast 1 20 10
log "results in $OUT/results.txt"
