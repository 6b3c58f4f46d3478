#!/usr/bin/env bash
# Live-document benchmarks: Qollab against the reference y-websocket server (npm
# y-websocket@1) and y-sweet (jamsocket's Rust/yrs server), same load generator, same run,
# loopback only. Run from the repo root:
#
#   bench/docs/run.sh            # load scenarios, then memory
#   bench/docs/run.sh load       # only the load scenarios
#   bench/docs/run.sh memory     # only the memory figures
#
# Knobs (environment): DURATION (measured seconds per run, default 20), WARMUP (default 3),
# IDLE_HOLD (seconds the idle connections are held, default 12), BENCH_OUT (directory for the
# JSON lines and server logs; default a new temp dir), CARGO_TARGET_DIR (default target),
# Y_SWEET (the y-sweet binary; default `y-sweet` on PATH, else `cargo install y-sweet
# --locked` into ~/.cache/qollab/y-sweet on first use; Y_SWEET=none skips that peer),
# FULL_PER_ROOM (full yrs replicas per room in the generator, default 2: they check
# convergence; the other clients are probes that time deliveries from the raw frames
# without applying them, so the generator does not starve the server of the two cores;
# FULL_PER_ROOM=all makes every client a full replica, as before 2026-12-07).
#
# Scenarios (each once against Qollab, then the reference server, then y-sweet with a
# filesystem store: `y-sweet serve DIR`, documents created with POST /doc/new, sockets at
# /d/{doc}/ws/{doc}; it checkpoints to disk every second instead of before relaying):
#   a) 1 room x 100 editors x 10 edits/s
#   b) 1,000 rooms x 5 clients x 1 edit/s = 5,000 connections
# Memory (Qollab, fresh server): RSS (VmRSS) at baseline, with 1,000 small documents loaded
# (each opened once through GET /api/docs/{id}), then with 2,000 idle synced connections to
# 200 of them; KiB per loaded document and per idle connection by difference. The
# reference server's RSS with the same 2,000 idle connections is printed for comparison.
#
# Every process it starts is stopped on exit.
set -euo pipefail

MODE=${1:-all}
case "$MODE" in all | load | memory) ;; *)
	echo "usage: $0 [all|load|memory]" >&2
	exit 2
	;;
esac
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
IDLE_HOLD=${IDLE_HOLD:-12}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${BENCH_OUT:-$(mktemp -d -t qollab-docs-bench.XXXXXX)}
mkdir -p "$OUT"

# Each connection is a socket on both ends (generator and server run here).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ulimit -n 65536 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
	echo "warning: open-file limit is $(ulimit -n); scenario b needs > 10,000" >&2
fi

PIDS=()
TMPDIRS=()
cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	for d in "${TMPDIRS[@]}"; do
		rm -rf "$d"
	done
}
trap cleanup EXIT

log() { echo "== $*" >&2; }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# User+system CPU seconds of a process so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat"; }

log "building qollab and qollab-load (release)"
cargo build --release -q -p qollab-server --bin qollab -p qollab-client --bin qollab-load
QOLLAB="$TARGET/release/qollab"
LOADGEN="$TARGET/release/qollab-load"
if [ ! -d tests/js/node_modules/y-websocket ]; then
	log "installing the reference server (npm ci --prefix tests/js)"
	npm ci --prefix tests/js --silent
fi

if [ "${Y_SWEET:-}" != none ]; then
	Y_SWEET=${Y_SWEET:-$(command -v y-sweet || true)}
	if [ -z "$Y_SWEET" ]; then
		Y_SWEET="$HOME/.cache/qollab/y-sweet/bin/y-sweet"
		if [ ! -x "$Y_SWEET" ]; then
			log "installing y-sweet (cargo install y-sweet --locked, once)"
			cargo install -q y-sweet --locked --root "$HOME/.cache/qollab/y-sweet"
		fi
	fi
	log "y-sweet $("$Y_SWEET" version)"
fi

log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -h | awk '/^Mem:/ {print $2}') memory; load average $(load_avg)"

# --- servers -------------------------------------------------------------------------

# start_qollab NAME [ENV=VALUE ...]: sets QPID, QURL (http://host:port).
start_qollab() {
	local name=$1
	shift
	local dir
	dir=$(mktemp -d -t qollab-bench-data.XXXXXX)
	TMPDIRS+=("$dir")
	env QOLLAB_BIND=127.0.0.1:0 QOLLAB_DATA_DIR="$dir" QOLLAB_LOG=warn \
		QOLLAB_ACCESS_TOKEN_TTL_SECS=7200 QOLLAB_AUTH_RATE_PER_MINUTE=10000 \
		"$@" "$QOLLAB" serve >"$OUT/$name.log" 2>&1 &
	QPID=$!
	PIDS+=("$QPID")
	local addr=""
	for _ in $(seq 1 200); do
		addr=$(sed -n 's|^qollab listening on http://||p' "$OUT/$name.log" 2>/dev/null | head -1 || true)
		[ -n "$addr" ] && break
		kill -0 "$QPID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$addr" ]; then
		cat "$OUT/$name.log" >&2
		echo "qollab did not start" >&2
		exit 1
	fi
	QURL="http://$addr"
	log "qollab ($name) pid $QPID on $QURL"
}

# start_reference NAME: sets RPID (the Node server itself), RURL (ws://host:port).
start_reference() {
	local name=$1
	node tests/js/reference-server.mjs --host 127.0.0.1 --port 0 >"$OUT/$name.json" 2>"$OUT/$name.log" &
	PIDS+=("$!")
	local line=""
	for _ in $(seq 1 100); do
		line=$(head -1 "$OUT/$name.json")
		[ -n "$line" ] && break
		sleep 0.1
	done
	[ -n "$line" ] || {
		cat "$OUT/$name.log" >&2
		echo "the reference server did not start" >&2
		exit 1
	}
	RURL=$(echo "$line" | sed -E 's/.*"url":"([^"]+)".*/\1/')
	RPID=$(echo "$line" | sed -E 's/.*"pid":([0-9]+).*/\1/')
	PIDS+=("$RPID")
	log "reference server pid $RPID on $RURL"
}

# start_ysweet NAME: sets YPID, YURL (http://host:port). A filesystem store in a fresh
# directory; logs at warn (its info logs one JSON line per connection).
start_ysweet() {
	local name=$1 dir port
	dir=$(mktemp -d -t qollab-bench-ysweet.XXXXXX)
	TMPDIRS+=("$dir")
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	Y_SWEET_LOG=warn "$Y_SWEET" serve "$dir" --host 127.0.0.1 --port "$port" >"$OUT/$name.log" 2>&1 &
	YPID=$!
	PIDS+=("$YPID")
	YURL="http://127.0.0.1:$port"
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "$YURL/" && break
		kill -0 "$YPID" 2>/dev/null || break
		sleep 0.1
	done
	curl -s -o /dev/null "$YURL/" || {
		cat "$OUT/$name.log" >&2
		echo "y-sweet did not start" >&2
		exit 1
	}
	log "y-sweet pid $YPID on $YURL"
}

# setup_ysweet IDS_FILE: creates each document of IDS_FILE on y-sweet (POST /doc/new).
setup_ysweet() {
	export YURL
	xargs -P 4 -I{} sh -c 'curl -sf -o /dev/null "$YURL/doc/new" -H "content-type: application/json" -d "{\"docId\":\"{}\"}"' <"$1"
	log "y-sweet: $(grep -c . "$1") documents created"
}

# stop PID: stops a server started here and forgets it.
stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

json_field() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }

# setup_qollab NDOCS IDS_FILE: registers a user, creates a workspace and NDOCS documents;
# sets TOKEN and writes the document ids, one a line, to IDS_FILE.
setup_qollab() {
	local ndocs=$1 ids=$2
	TOKEN=$(curl -sf "$QURL/api/auth/register" -H 'content-type: application/json' \
		-d "{\"email\":\"bench-$RANDOM$RANDOM@example.com\",\"password\":\"benchmark password 1\",\"name\":\"Bench\"}" |
		json_field access_token)
	local ws
	ws=$(curl -sf "$QURL/api/workspaces" -H "authorization: Bearer $TOKEN" \
		-H 'content-type: application/json' -d '{"name":"bench"}' | json_field id)
	export QURL TOKEN ws
	seq 1 "$ndocs" | xargs -P 4 -I{} sh -c \
		'curl -sf "$QURL/api/workspaces/$ws/docs" -H "authorization: Bearer $TOKEN" -H "content-type: application/json" -d "{\"name\":\"bench-{}\"}" | grep -o "\"id\":\"[^\"]*\"" | head -1 | cut -d\" -f4' \
		>"$ids"
	local got
	got=$(grep -c . "$ids" || true)
	[ "$got" -eq "$ndocs" ] || {
		echo "created $got of $ndocs documents" >&2
		exit 1
	}
	log "workspace $ws with $ndocs documents"
}

METRICS_TOKEN=bench-metrics-token-$RANDOM$RANDOM

# scrape FILE: Qollab's /metrics now.
scrape() { curl -sf "$QURL/metrics" -H "authorization: Bearer $METRICS_TOKEN" >"$1"; }

# hist_quantile BEFORE AFTER NAME Q: of what histogram NAME recorded between two scrapes,
# the upper bound (ms) of the bucket holding quantile Q ("<= x"), or "none".
hist_quantile() {
	awk -v name="$3" -v q="$4" '
		function le_of(line) { match(line, /le="[^"]+"/); return substr(line, RSTART + 4, RLENGTH - 5) }
		FNR == NR { if (index($0, name "_bucket{") == 1) before[le_of($0)] = $NF; next }
		index($0, name "_bucket{") == 1 { n++; les[n] = le_of($0); cnt[n] = $NF - before[les[n]] }
		END {
			if (n == 0 || cnt[n] <= 0) { print "none"; exit }
			for (i = 1; i <= n; i++) if (cnt[i] >= q * cnt[n]) {
				if (les[i] == "+Inf") print ">10000"; else printf "<=%g\n", les[i] * 1000
				exit
			}
		}' "$1" "$2"
}

# run_load LABEL PID URL [qollab-load args...]: one load run; prints the JSON line
# prefixed with LABEL, the load average and the server's CPU seconds during the run, and
# for Qollab the server-side figures of the same edits from /metrics (histogram bucket
# bounds, ms): relay (arrival to queued for every peer), of which persist (the wait for
# the log) and apply.
run_load() {
	local label=$1 pid=$2 url=$3
	shift 3
	local cpu0 cpu1 la out server="" m0="$OUT/metrics-before" m1="$OUT/metrics-after"
	[ "$pid" = "${QOLLAB_PID:-}" ] && scrape "$m0"
	cpu0=$(cpu_s "$pid")
	out=$("$LOADGEN" --url "$url" --duration "$DURATION" "${GENERATOR[@]}" "$@")
	cpu1=$(cpu_s "$pid")
	la=$(load_avg)
	if [ "$pid" = "${QOLLAB_PID:-}" ]; then
		scrape "$m1"
		local part
		for part in relay persist apply; do
			local h="qollab_docs_update_${part}_duration_seconds"
			server+="server_${part}_p50_ms=$(hist_quantile "$m0" "$m1" "$h" 0.5) "
			server+="server_${part}_p99_ms=$(hist_quantile "$m0" "$m1" "$h" 0.99) "
		done
	fi
	echo "$label load_avg=[$la] server_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.1f", b-a}') $server$out" |
		tee -a "$OUT/results.txt"
}

# --- load scenarios --------------------------------------------------------------------

FULL_PER_ROOM=${FULL_PER_ROOM:-2}
GENERATOR=()
[ "$FULL_PER_ROOM" = all ] || GENERATOR=(--full-per-room "$FULL_PER_ROOM")

if [ "$MODE" = all ] || [ "$MODE" = load ]; then
	start_qollab load QOLLAB_METRICS_TOKEN="$METRICS_TOKEN"
	QOLLAB_PID=$QPID
	setup_qollab 1001 "$OUT/ids-all.txt"
	head -1 "$OUT/ids-all.txt" >"$OUT/ids-a.txt"
	tail -n +2 "$OUT/ids-all.txt" >"$OUT/ids-b.txt"
	WS_URL="ws://${QURL#http://}/ws/docs"
	start_reference reference
	if [ "${Y_SWEET:-}" != none ]; then
		start_ysweet ysweet
		setup_ysweet "$OUT/ids-all.txt"
		YS_URL="ws://${YURL#http://}/d/{room}/ws/{room}"
	fi
	sleep 1

	log "scenario a: 1 room x 100 editors x 10 edits/s (${DURATION}s)"
	run_load "a qollab" "$QOLLAB_PID" "$WS_URL" --token "$TOKEN" \
		--room-ids-file "$OUT/ids-a.txt" -n 100 -e 10 --warmup "$WARMUP" --settle 20
	sleep 2
	run_load "a reference" "$RPID" "$RURL" \
		--room-ids-file "$OUT/ids-a.txt" -n 100 -e 10 --warmup "$WARMUP" --settle 20
	sleep 2
	if [ "${Y_SWEET:-}" != none ]; then
		# One connection at a time: y-sweet 0.9 answers HTTP 500 to many of 100 sockets
		# that arrive together for a document it has not loaded yet (58 of 100 in one
		# run). Connecting is outside the measured window.
		run_load "a y-sweet" "$YPID" "$YS_URL" --connect-concurrency 1 \
			--room-ids-file "$OUT/ids-a.txt" -n 100 -e 10 --warmup "$WARMUP" --settle 20
		sleep 2
	fi

	log "scenario b: 1,000 rooms x 5 clients x 1 edit/s = 5,000 connections (${DURATION}s)"
	run_load "b qollab" "$QOLLAB_PID" "$WS_URL" --token "$TOKEN" \
		--room-ids-file "$OUT/ids-b.txt" -n 5000 -e 1 --warmup "$((WARMUP + 2))" --settle 20
	sleep 2
	run_load "b reference" "$RPID" "$RURL" \
		--room-ids-file "$OUT/ids-b.txt" -n 5000 -e 1 --warmup "$((WARMUP + 2))" --settle 20
	if [ "${Y_SWEET:-}" != none ]; then
		sleep 2
		run_load "b y-sweet" "$YPID" "$YS_URL" \
			--room-ids-file "$OUT/ids-b.txt" -n 5000 -e 1 --warmup "$((WARMUP + 2))" --settle 20
		stop "$YPID"
	fi
	stop "$RPID"
	stop "$QOLLAB_PID"
fi

# --- memory ----------------------------------------------------------------------------

# idle_rss PID URL IDS N [args...]: holds N idle connections, prints the server's RSS (KiB)
# once they are all synced and have settled.
idle_rss() {
	local pid=$1 url=$2 ids=$3 n=$4
	shift 4
	local errf="$OUT/idle-$pid.err" outf="$OUT/idle-$pid.out"
	"$LOADGEN" --url "$url" --room-ids-file "$ids" -n "$n" --idle "$IDLE_HOLD" "$@" >"$outf" 2>"$errf" &
	local lpid=$!
	PIDS+=("$lpid")
	for _ in $(seq 1 600); do
		grep -q '"phase":"holding"' "$errf" && break
		kill -0 "$lpid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 3
	rss_kib "$pid"
	wait "$lpid"
	log "idle report: $(cat "$outf")"
}

if [ "$MODE" = all ] || [ "$MODE" = memory ]; then
	start_qollab memory QOLLAB_DOC_UNLOAD_GRACE_SECS=3600
	QOLLAB_PID=$QPID
	setup_qollab 1000 "$OUT/ids-mem.txt"
	head -200 "$OUT/ids-mem.txt" >"$OUT/ids-mem-200.txt"
	sleep 2
	R0=$(rss_kib "$QOLLAB_PID")
	log "opening 1,000 documents (GET /api/docs/{id}; they stay loaded: unload grace 3600 s)"
	export QURL TOKEN
	xargs -P 4 -I{} sh -c 'curl -sf -o /dev/null "$QURL/api/docs/{}" -H "authorization: Bearer $TOKEN"' <"$OUT/ids-mem.txt"
	sleep 2
	R1=$(rss_kib "$QOLLAB_PID")
	log "2,000 idle connections to 200 loaded documents (held ${IDLE_HOLD}s)"
	R2=$(idle_rss "$QOLLAB_PID" "ws://${QURL#http://}/ws/docs" "$OUT/ids-mem-200.txt" 2000 --token "$TOKEN")
	stop "$QOLLAB_PID"

	start_reference memory-reference
	sleep 1
	RR0=$(rss_kib "$RPID")
	RR1=$(idle_rss "$RPID" "$RURL" "$OUT/ids-mem-200.txt" 2000)
	stop "$RPID"

	awk -v r0="$R0" -v r1="$R1" -v r2="$R2" -v q0="$RR0" -v q1="$RR1" -v la="$(load_avg)" 'BEGIN {
		printf "memory load_avg=[%s] {\"qollab\":{\"baseline_kib\":%d,\"docs_loaded_kib\":%d,\"idle_2000_kib\":%d,\"kib_per_loaded_doc\":%.1f,\"kib_per_idle_connection\":%.1f},", la, r0, r1, r2, (r1-r0)/1000, (r2-r1)/2000
		printf "\"reference\":{\"baseline_kib\":%d,\"idle_2000_kib\":%d,\"kib_per_idle_connection\":%.1f}}\n", q0, q1, (q1-q0)/2000
	}' | tee -a "$OUT/results.txt"
fi

log "results in $OUT/results.txt (load average now $(load_avg))"
