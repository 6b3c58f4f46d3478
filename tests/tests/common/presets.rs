//! Configuration presets: server tweaks for `TestServer::start_with` and environments for
//! `ServerProcess::spawn`, named after what a test needs rather than spelled out in each.

use qollab_server::config::Config;

/// The JWT secret of processes that share one database (a token from one works on all).
pub const SHARED_SECRET: &str = "a-shared-secret-for-all-processes-0123456789";

/// The emulator without its injected faults (calibration drift, timeouts, readout
/// faults), its queue and run delays scaled by `time_scale` (0: no waiting at all).
pub fn reliable_emulator(c: &mut Config, time_scale: f64) {
    c.jobs.emulator.time_scale = time_scale;
    c.jobs.emulator.calibration_drift = 0.0;
    c.jobs.emulator.timeout = 0.0;
    c.jobs.emulator.readout_fault = 0.0;
}

/// One job at a time, each waiting seconds in the reliable emulator: jobs stay queued or
/// running long enough to be watched or cancelled.
pub fn one_slow_job_at_a_time(c: &mut Config) {
    c.jobs.pool_size = 1;
    reliable_emulator(c, 200.0);
}

/// Four jobs at a time in the reliable emulator, each taking a fraction of a second:
/// enough overlap to see ordering mistakes.
pub fn slow_emulator(c: &mut Config) {
    c.jobs.pool_size = 4;
    reliable_emulator(c, 2.0);
}

/// [`reliable_emulator`] as environment variables of a `qollab` process.
pub fn reliable_emulator_env(time_scale: &'static str) -> [(&'static str, &'static str); 4] {
    [
        ("QOLLAB_EMULATOR_TIME_SCALE", time_scale),
        ("QOLLAB_EMULATOR_DRIFT_RATE", "0"),
        ("QOLLAB_EMULATOR_TIMEOUT_RATE", "0"),
        ("QOLLAB_EMULATOR_READOUT_RATE", "0"),
    ]
}

/// The Redis named by `QOLLAB_TEST_REDIS_URL`, if any.
pub fn test_redis_url() -> Option<String> {
    std::env::var("QOLLAB_TEST_REDIS_URL")
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
}
