"""Celery + Redis peer of the jobs benchmark (issue #12): the same small job as
bench/jobs/run.sh (a Bell pair, 100 shots) on the seeds' stack, Celery with Redis as
broker and result backend, measured in the same run.

The job builds the 2-qubit Bell state with numpy (H on q0, CNOT q0 -> q1), takes the
probabilities and samples 100 shots with numpy's RNG; it returns the counts, e.g.
{"00": 51, "11": 49}. Everything else is Celery's defaults (JSON serializer, prefork
pool, prefetch multiplier 4, acks on receipt).

`python3 celery_peer.py bench` starts a worker (prefork, concurrency = cores), waits
until it answers a ping, runs one warm-up job (not counted), then has SUBMITTERS threads
submit JOBS jobs between them, each submitter submitting one job (apply_async) and
waiting for its result (AsyncResult.get()) before taking the next. It prints one JSON
line: throughput from the first submission to the last result, and each job's latency
from submit to result received. The worker (its whole process group) is stopped on every
exit path. Run it through bench/jobs/celery.sh, which makes the virtual environment.

Environment: CELERY_REDIS_URL (default redis://127.0.0.1:6379/15; that database is
flushed at start, so it must not be 0), JOBS (2000), SUBMITTERS (32), CELERY_CONCURRENCY
(default: the cores this process may run on, as nproc), CELERY_PEER_QUEUE,
CELERY_PEER_LOG (the worker's log file), CELERY_PEER_PIDFILE (where the worker's pid,
which is also its process group, is written, for a caller's own cleanup).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlparse

import numpy as np
from celery import Celery, __version__ as CELERY_VERSION

REDIS_URL = os.environ.get("CELERY_REDIS_URL", "redis://127.0.0.1:6379/15")
QUEUE = os.environ.get("CELERY_PEER_QUEUE", "qollab-jobs-bench")
SHOTS = 100
# The seed the Qollab load generator gives its jobs.
SEED = 7
# What each submission sends (as JSON, Celery's default serializer).
JOB = {"shots": SHOTS, "seed": SEED}

app = Celery("celery_peer", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_default_queue=QUEUE,
    # The default from Celery 6 on; set only to silence the deprecation warning.
    broker_connection_retry_on_startup=True,
)

_H = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
_I = np.eye(2, dtype=complex)
# Basis index = 2*q1 + q0 (q0 the least significant bit, as Qiskit and Qollab print
# bitstrings "q1q0"). CNOT, control q0, target q1: swaps |q1 q0> = |01> and |11>.
_CNOT = np.array(
    [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]],
    dtype=complex,
)


@app.task(name="celery_peer.bell")
def bell(shots: int = SHOTS, seed: int | None = SEED) -> dict[str, int]:
    state = np.zeros(4, dtype=complex)
    state[0] = 1
    state = np.kron(_I, _H) @ state  # H on q0
    state = _CNOT @ state
    probs = np.abs(state) ** 2
    probs /= probs.sum()
    rng = np.random.default_rng(seed)
    samples = rng.choice(4, size=shots, p=probs)
    counts = np.bincount(samples, minlength=4)
    return {format(i, "02b"): int(c) for i, c in enumerate(counts) if c}


def _log(msg: str) -> None:
    print(f"== celery: {msg}", file=sys.stderr, flush=True)


def _redis_db(url: str) -> int:
    path = urlparse(url).path.strip("/")
    return int(path) if path else 0


def _percentile_ms(sorted_s: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted seconds, in milliseconds."""
    if not sorted_s:
        return None
    rank = max(1, int(np.ceil(q / 100 * len(sorted_s))))
    return round(sorted_s[rank - 1] * 1000, 2)


def _ok(result: object) -> bool:
    return (
        isinstance(result, dict)
        and sum(result.values()) == SHOTS
        and set(result) <= {"00", "11"}
    )


class Worker:
    """`celery worker` as a subprocess in its own process group, stopped on close()."""

    def __init__(self, concurrency: int, log_path: str, pidfile: str | None) -> None:
        self.node = f"qollab-bench-{os.getpid()}@{socket.gethostname()}"
        here = os.path.dirname(os.path.abspath(__file__))
        env = dict(os.environ)
        env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
        celery_bin = os.path.join(os.path.dirname(sys.executable), "celery")
        if os.access(celery_bin, os.X_OK):
            cmd = [celery_bin]
        else:
            cmd = [sys.executable, "-m", "celery"]
        cmd += [
            "-A", "celery_peer", "worker",
            f"--concurrency={concurrency}", "--pool=prefork",
            "-Q", QUEUE, "-n", self.node,
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-l", "warning",
        ]  # fmt: skip
        self.log_path = log_path
        self.pidfile = pidfile
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            cwd=here,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if pidfile:
            with open(pidfile, "w") as f:
                f.write(f"{self.proc.pid}\n")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            if app.control.ping(destination=[self.node], timeout=0.5):
                return
        raise RuntimeError(f"worker not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def close(self) -> None:
        """Warm shutdown (SIGTERM, as Celery's docs advise), then SIGKILL to whatever is
        left of the group (the prefork children included)."""
        pgid = self.proc.pid
        if self.proc.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _log("worker did not stop within 20 s of SIGTERM: SIGKILL")
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _log(f"worker pid {pgid} still not reaped")
        self._log.close()
        if self.pidfile:
            try:
                os.unlink(self.pidfile)
            except OSError:
                pass


def _on_signal(signum, _frame):
    # SIGTERM/SIGHUP end the run the way Ctrl-C does, so that the finally blocks run.
    raise KeyboardInterrupt(f"signal {signum}")


def bench() -> int:
    jobs = int(os.environ.get("JOBS", "2000"))
    submitters = int(os.environ.get("SUBMITTERS", "32"))
    concurrency = int(os.environ.get("CELERY_CONCURRENCY", "0")) or len(os.sched_getaffinity(0))
    if jobs <= 0 or submitters <= 0:
        _log("JOBS and SUBMITTERS must be > 0")
        return 2
    db = _redis_db(REDIS_URL)
    if db == 0:
        _log(f"refusing to flush database 0 ({REDIS_URL}): other tests use it; pick another")
        return 2
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)

    import redis

    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()  # only this database
    r.close()

    log_path = os.environ.get("CELERY_PEER_LOG") or tempfile.mkstemp(
        prefix="qollab-celery-worker.", suffix=".log"
    )[1]
    worker = Worker(concurrency, log_path, os.environ.get("CELERY_PEER_PIDFILE"))
    try:
        _log(
            f"worker pid {worker.proc.pid} ({worker.node}), concurrency {concurrency}, "
            f"log {log_path}"
        )
        worker.wait_ready()
        warm = bell.apply_async(kwargs=JOB).get(timeout=30)
        if not _ok(warm):
            raise RuntimeError(f"warm-up job returned {warm!r}")
        _log(
            f"worker ready, warm-up result {warm}; celery {CELERY_VERSION}, "
            f"numpy {np.__version__}, {jobs} jobs, {submitters} submitters"
        )

        lock = threading.Lock()
        state = {"next": 0, "failed": 0, "first_error": None}
        latencies: list[float] = []
        finished: list[float] = []

        def submitter() -> None:
            local_lat: list[float] = []
            local_fin: list[float] = []
            while True:
                with lock:
                    if state["next"] >= jobs:
                        break
                    state["next"] += 1
                t = time.perf_counter()
                try:
                    result = bell.apply_async(kwargs=JOB).get(timeout=300)
                    ok, err = _ok(result), f"bad result {result!r}"
                except Exception as e:  # noqa: BLE001 - counted, the first one reported
                    ok, err = False, f"{type(e).__name__}: {e}"
                done = time.perf_counter()
                if ok:
                    local_lat.append(done - t)
                    local_fin.append(done)
                else:
                    with lock:
                        state["failed"] += 1
                        state["first_error"] = state["first_error"] or err
            with lock:
                latencies.extend(local_lat)
                finished.extend(local_fin)

        threads = [threading.Thread(target=submitter, daemon=True) for _ in range(submitters)]
        started = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            while th.is_alive():
                th.join(timeout=0.5)
        last = max(finished, default=time.perf_counter())
        seconds = last - started
        latencies.sort()
        completed = len(latencies)
        line = {
            "peer": "celery",
            "jobs": jobs,
            "submitters": submitters,
            "concurrency": concurrency,
            "shots": SHOTS,
            "completed": completed,
            "seconds": round(seconds, 3),
            "jobs_per_s": round(completed / max(seconds, 1e-9), 1),
            "latency_p50_ms": _percentile_ms(latencies, 50),
            "latency_p99_ms": _percentile_ms(latencies, 99),
            "failed": state["failed"],
            "first_error": state["first_error"],
            "celery_version": CELERY_VERSION,
        }
    finally:
        worker.close()
    print(json.dumps(line, separators=(",", ":")), flush=True)
    return 0 if state["failed"] == 0 else 1


if __name__ == "__main__":
    if sys.argv[1:] != ["bench"]:
        print(f"usage: {sys.argv[0]} bench", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(bench())
    except KeyboardInterrupt as e:
        _log(f"interrupted ({e or 'Ctrl-C'}); worker stopped")
        sys.exit(130)
