#!/usr/bin/env bash
# Celery + Redis peer of the jobs benchmark (issue #12): the same job as run.sh (a Bell
# pair, 100 shots, here computed with numpy) on Celery with Redis as broker and result
# backend, a prefork worker with concurrency = cores, the same submitters. Prints one
# JSON line (jobs/s from the first submission to the last result, latency p50/p99 from
# submit to result received). Needs Redis on loopback; run from the repo root:
#
#   bench/jobs/celery.sh
#
# Knobs (environment): JOBS (default 2000), SUBMITTERS (32), CELERY_REDIS_URL (default
# redis://127.0.0.1:6379/15: a database of its own, flushed at start; never 0),
# CELERY_CONCURRENCY (default nproc), QOLLAB_BENCH_VENV (the throw-away virtual
# environment, default ~/.cache/qollab/celery-venv, made on first use), BENCH_OUT
# (directory for celery.json and the worker's log).
set -euo pipefail

JOBS=${JOBS:-2000}
SUBMITTERS=${SUBMITTERS:-32}
VENV=${QOLLAB_BENCH_VENV:-$HOME/.cache/qollab/celery-venv}
REQUIREMENTS=("celery[redis]==5.7.0" "numpy==2.4.6")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "== $*" >&2; }

# The venv is reused while it holds exactly these pins (its stamp), remade otherwise.
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.qollab-pins" 2>/dev/null)" != "${REQUIREMENTS[*]}" ]; then
	log "celery: making the virtual environment $VENV (${REQUIREMENTS[*]})"
	if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ]; then
		echo "$VENV exists and is no virtual environment: not replacing it" >&2
		exit 2
	fi
	rm -rf "$VENV"
	mkdir -p "$(dirname "$VENV")"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check "${REQUIREMENTS[@]}"
	echo "${REQUIREMENTS[*]}" >"$VENV/.qollab-pins"
fi

WORK=$(mktemp -d -t qollab-celery-bench.XXXXXX)
PEER=""
# The peer stops its worker on every exit it sees (Ctrl-C, SIGTERM, errors); this is for
# the ones it cannot see (it was killed): the worker's process group, by the pid it wrote.
cleanup() {
	if [ -n "$PEER" ]; then
		kill "$PEER" 2>/dev/null || true
		wait "$PEER" 2>/dev/null || true
	fi
	local pgid
	pgid=$(cat "$WORK/worker.pid" 2>/dev/null || true)
	if [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null; then
		log "celery: stopping the worker's process group $pgid"
		kill -TERM -- "-$pgid" 2>/dev/null || true
		sleep 2
		kill -KILL -- "-$pgid" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LOG=$WORK/worker.log
if [ -n "${BENCH_OUT:-}" ]; then
	mkdir -p "$BENCH_OUT"
	LOG=$BENCH_OUT/celery-worker.log
fi
# In the background and waited for, so that a signal reaches the trap at once. No
# __pycache__ left in the repo by the worker's import of celery_peer.
PYTHONDONTWRITEBYTECODE=1 JOBS=$JOBS SUBMITTERS=$SUBMITTERS \
	CELERY_PEER_LOG=$LOG CELERY_PEER_PIDFILE=$WORK/worker.pid \
	"$VENV/bin/python" "$HERE/celery_peer.py" bench >"$WORK/out.json" &
PEER=$!
rc=0
wait "$PEER" || rc=$?
PEER=""
line=$(tail -n 1 "$WORK/out.json")
if [ -n "$line" ]; then
	[ -z "${BENCH_OUT:-}" ] || echo "$line" >"$BENCH_OUT/celery.json"
	echo "$line"
fi
exit "$rc"
