#!/usr/bin/env bash
# API fuzzing: schemathesis generates requests from GET /api/openapi.json and sends them
# to a real `qollab serve` (fresh SQLite data dir, or the database in QOLLAB_DATABASE_URL;
# a free loopback port), authenticated with a real API token, with path parameters
# pinned to real fixtures (see schemathesis.toml beside this script). It fails on any
# 5xx and on any response that does not match the document (status code, content
# type, body schema). Run from anywhere:
#
#   tests/api-fuzz/run.sh
#
# Knobs (environment): MAX_EXAMPLES (cases per operation and phase, default 25),
# FUZZ_SEED (default: fixed, so a CI failure reproduces), FUZZ_WORKERS (1: with more,
# schemathesis 4.32 under Python 3.11 hit internal errors in its own AST handling),
# FUZZ_TIMEOUT (hard limit in seconds, default 600), PROFILE (debug|release, default
# debug), QOLLAB_BIN (a `qollab` binary to test instead of building one; CI passes the
# tests' `qollab-under-test`, the same entry point, to avoid a second build), FUZZ_OUT
# (directory for the server log and reports; default a temp dir), CARGO_TARGET_DIR.
# Schemathesis lives in a throw-away virtual environment under
# ${XDG_CACHE_HOME:-$HOME/.cache}/qollab/schemathesis-venv, created on first use.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SCHEMATHESIS_VERSION=4.32.5
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/qollab/schemathesis-venv"
MAX_EXAMPLES=${MAX_EXAMPLES:-25}
FUZZ_SEED=${FUZZ_SEED:-20261203}
FUZZ_WORKERS=${FUZZ_WORKERS:-1}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-600}
PROFILE=${PROFILE:-debug}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${FUZZ_OUT:-$(mktemp -d -t qollab-api-fuzz.XXXXXX)}
mkdir -p "$OUT"

log() { echo "== $*" >&2; }
json_field() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }

if [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$SCHEMATHESIS_VERSION" ]; then
	log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ -n "${QOLLAB_BIN:-}" ]; then
	QOLLAB=$QOLLAB_BIN
else
	log "building qollab ($PROFILE)"
	if [ "$PROFILE" = release ]; then
		(cd "$ROOT" && cargo build -q --release -p qollab-server --bin qollab)
	else
		(cd "$ROOT" && cargo build -q -p qollab-server --bin qollab)
	fi
	QOLLAB="$TARGET/$PROFILE/qollab"
fi

DATA=$(mktemp -d -t qollab-api-fuzz-data.XXXXXX)
PID=""
cleanup() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$DATA"
}
trap cleanup EXIT

# The fuzzer registers and logs in thousands of times: lift the per-IP limit. Tokens
# must outlive the run. Logs at warn so that a panic or an error shows in server.log.
QOLLAB_BIND=127.0.0.1:0 QOLLAB_DATA_DIR="$DATA" QOLLAB_LOG=warn \
	QOLLAB_AUTH_RATE_PER_MINUTE=1000000 QOLLAB_AUTH_IP_RATE_PER_MINUTE=1000000 QOLLAB_ACCESS_TOKEN_TTL_SECS=7200 \
	QOLLAB_WORKERS=2 QOLLAB_SHUTDOWN_TIMEOUT_SECS=1 \
	"$QOLLAB" serve >"$OUT/server.log" 2>&1 &
PID=$!
ADDR=""
for _ in $(seq 1 300); do
	ADDR=$(sed -n 's|^qollab listening on http://||p' "$OUT/server.log" | head -1)
	[ -n "$ADDR" ] && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$ADDR" ]; then
	cat "$OUT/server.log" >&2
	exit 1
fi
URL="http://$ADDR"

# call METHOD PATH [BODY]: a JSON request as the fixture owner; fails on non-2xx.
call() {
	curl -sf -X "$1" "$URL$2" -H "authorization: Bearer ${AUTH:-}" \
		-H 'content-type: application/json' ${3:+-d "$3"}
}

log "fixtures on $URL"
AUTH=$(curl -sf "$URL/api/auth/register" -H 'content-type: application/json' \
	-d '{"email":"fuzz-owner@example.com","password":"fuzzing password 1","name":"Fuzz owner"}' |
	json_field access_token)
MEMBER=$(curl -sf "$URL/api/auth/register" -H 'content-type: application/json' \
	-d '{"email":"fuzz-member@example.com","password":"fuzzing password 2","name":"Fuzz member"}' |
	grep -o '"user":{"id":"[^"]*"' | cut -d'"' -f6)
# An API token survives the fuzzer's POST /api/auth/logout (which revokes sessions).
QF_TOKEN=$(call POST /api/tokens '{"name":"fuzz"}' | json_field secret)
AUTH=$QF_TOKEN
QF_TOKEN_DELETE=$(call POST /api/tokens '{"name":"fuzz-delete"}' | json_field id)
QF_ORG=$(call POST /api/orgs '{"name":"fuzz org"}' | json_field id)
QF_WS=$(call POST /api/workspaces "{\"name\":\"fuzz\",\"org_id\":\"$QF_ORG\"}" | json_field id)
QF_WS_DELETE=$(call POST /api/workspaces '{"name":"fuzz delete"}' | json_field id)
call POST "/api/workspaces/$QF_WS/members" '{"email":"fuzz-member@example.com","role":"editor"}' >/dev/null
BELL='OPENQASM 2.0; include \"qelib1.inc\"; qreg q[2]; creg c[2]; h q[0]; cx q[0],q[1]; measure q -> c;'
QF_DOC=$(call POST "/api/workspaces/$QF_WS/docs" "{\"name\":\"bell\",\"qasm\":\"$BELL\"}" | json_field id)
QF_DOC_DELETE=$(call POST "/api/workspaces/$QF_WS/docs" "{\"name\":\"bell delete\",\"qasm\":\"$BELL\"}" | json_field id)
call POST "/api/docs/$QF_DOC/versions" '{"name":"v1"}' >/dev/null || true
QF_JOB=$(call POST "/api/workspaces/$QF_WS/jobs" "{\"source\":{\"doc_id\":\"$QF_DOC\"},\"shots\":100}" | json_field id)
for _ in $(seq 1 300); do
	call GET "/api/jobs/$QF_JOB" | grep -q '"status":"completed"' && break
	sleep 0.1
done
QF_SESSION=$(call POST "/api/workspaces/$QF_WS/sessions" '{"backend":"ideal"}' | json_field id)
SCHEDULE="{\"name\":\"nightly\",\"cron\":\"0 3 * * *\",\"source\":{\"doc_id\":\"$QF_DOC\"},\"shots\":10}"
QF_SCHEDULE=$(call POST "/api/workspaces/$QF_WS/schedules" "$SCHEDULE" | json_field id)
QF_SCHEDULE_DELETE=$(call POST "/api/workspaces/$QF_WS/schedules" "$SCHEDULE" | json_field id)
export QF_TOKEN QF_TOKEN_DELETE QF_ORG QF_WS QF_WS_DELETE QF_MEMBER="$MEMBER" QF_DOC \
	QF_DOC_DELETE QF_JOB QF_SESSION QF_SCHEDULE QF_SCHEDULE_DELETE
for v in QF_TOKEN QF_TOKEN_DELETE QF_ORG QF_WS QF_WS_DELETE QF_MEMBER QF_DOC QF_DOC_DELETE \
	QF_JOB QF_SESSION QF_SCHEDULE QF_SCHEDULE_DELETE; do
	if [ -z "${!v}" ]; then
		echo "fixture $v could not be created; server log:" >&2
		cat "$OUT/server.log" >&2
		exit 1
	fi
done

log "schemathesis $SCHEMATHESIS_VERSION: $MAX_EXAMPLES examples per operation, seed $FUZZ_SEED, $FUZZ_WORKERS workers"
set +e
# From $OUT, where schemathesis keeps its cache directory.
cd "$OUT"
timeout --signal=INT --kill-after=30 "$FUZZ_TIMEOUT" \
	"$VENV/bin/schemathesis" --config-file "$HERE/schemathesis.toml" --no-color run "$URL/api/openapi.json" \
	--checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
	--phases examples,coverage,fuzzing \
	--max-examples "$MAX_EXAMPLES" --seed "$FUZZ_SEED" --workers "$FUZZ_WORKERS" \
	--generation-database none --request-timeout 30 \
	--report junit --report-dir "$OUT" 2>&1 | tee "$OUT/schemathesis.txt"
STATUS=${PIPESTATUS[0]}
set -e

if ! kill -0 "$PID" 2>/dev/null; then
	echo "the server died during the run; its log:" >&2
	tail -50 "$OUT/server.log" >&2
	STATUS=1
fi
if grep -q "panicked" "$OUT/server.log"; then
	echo "the server panicked during the run:" >&2
	grep -A5 "panicked" "$OUT/server.log" | head -40 >&2
	STATUS=1
fi
if [ "$STATUS" -ne 0 ]; then
	log "API fuzzing FAILED (status $STATUS); schemathesis output, server log and JUnit report in $OUT"
else
	log "API fuzzing passed; output in $OUT"
fi
exit "$STATUS"
