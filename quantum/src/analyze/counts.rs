//! A job's counts against the ideal distribution (total-variation distance with
//! its shot-noise floor), and shots against the precision asked for.

use crate::sim::{self, SimOptions, format_bits};
use crate::{Cancel, EngineError};
use qollab_shared::analysis::{Finding, Severity};
use qollab_shared::circuit::{Circuit, Op};
use std::collections::BTreeMap;

/// Exact ideal distributions are computed from the state vector up to this many qubits.
pub const MAX_IDEAL_QUBITS: usize = 20;
/// Circuits with mid-circuit measurement or resets are sampled shot by shot, up to this size.
pub const MAX_SAMPLED_QUBITS: usize = 8;
/// Shots of that sampled ideal distribution (its own sampling noise enters the floor).
pub const SAMPLED_SHOTS: usize = 2048;
const SAMPLED_INSTRUCTIONS: usize = 2000;
/// The exact ideal distribution simulates up to this many instructions (after expansion)…
pub const MAX_IDEAL_INSTRUCTIONS: usize = 5000;
/// …and at most this many amplitude updates (instructions × 2^qubits, × shots when
/// sampled): about a second on one core; exact at 20 qubits gets 256 instructions,
/// at 16 qubits 4096; sampled at 8 qubits 512.
pub const MAX_IDEAL_WORK: usize = 1 << 28;
/// A TVD within this many times its expected shot-noise value is consistent with the ideal.
pub const NOISE_FLOOR_FACTOR: f64 = 3.0;

/// The ideal outcome distribution, keyed as the job results are (Qiskit order:
/// registers last-first separated by spaces, clbit 0 rightmost), and the number
/// of shots it was sampled with (`None` when exact).
pub struct Ideal {
    pub probs: BTreeMap<String, f64>,
    pub sampled_shots: Option<usize>,
}

/// Why no ideal distribution could be computed.
pub enum NoIdeal {
    TooLarge { qubits: usize, limit: usize },
    TooLong { instructions: usize, limit: usize },
    NoClbits,
    Failed(String),
}

/// Measurements (qubit, clbit) at the end and the unitary part before them, when
/// nothing non-unitary happens before a measured qubit's last measurement.
fn terminal_measures(c: &Circuit) -> Option<(Circuit, Vec<(usize, usize)>)> {
    let mut body = c.empty_like();
    body.global_phase = c.global_phase;
    let mut measured = vec![false; c.num_qubits()];
    let mut measures = Vec::new();
    for ins in &c.instructions {
        if ins.condition.is_some() {
            return None;
        }
        match ins.op {
            Op::Measure => {
                for (&q, &b) in ins.qubits.iter().zip(&ins.clbits) {
                    measured[q] = true;
                    measures.push((q, b));
                }
            }
            Op::Barrier => {}
            Op::Gate { .. } if ins.qubits.iter().all(|&q| !measured[q]) => {
                body.push(ins.clone());
            }
            _ => return None,
        }
    }
    Some((body, measures))
}

/// The ideal distribution of `c` (already prepared: user gates expanded).
pub fn ideal_distribution(c: &Circuit, cancel: &Cancel) -> Result<Ideal, NoIdeal> {
    let n = c.num_qubits();
    let nc = c.num_clbits();
    if nc == 0 {
        return Err(NoIdeal::NoClbits);
    }
    if let Some((body, measures)) = terminal_measures(c) {
        if n > MAX_IDEAL_QUBITS {
            return Err(NoIdeal::TooLarge {
                qubits: n,
                limit: MAX_IDEAL_QUBITS,
            });
        }
        too_long(c, MAX_IDEAL_INSTRUCTIONS.min(MAX_IDEAL_WORK >> n))?;
        let amps = sim::statevector(&body, MAX_IDEAL_QUBITS, cancel)
            .map_err(|e| NoIdeal::Failed(e.to_string()))?;
        let mut probs: BTreeMap<String, f64> = BTreeMap::new();
        let mut bits = vec![false; nc];
        for (idx, a) in amps.iter().enumerate() {
            let p = a.norm_sqr();
            if p < 1e-14 {
                continue;
            }
            bits.iter_mut().for_each(|b| *b = false);
            for &(q, b) in &measures {
                bits[b] = idx >> q & 1 == 1;
            }
            *probs.entry(format_bits(c, &bits)).or_default() += p;
        }
        return Ok(Ideal {
            probs,
            sampled_shots: None,
        });
    }
    if n > MAX_SAMPLED_QUBITS {
        return Err(NoIdeal::TooLarge {
            qubits: n,
            limit: MAX_SAMPLED_QUBITS,
        });
    }
    too_long(
        c,
        SAMPLED_INSTRUCTIONS.min(MAX_IDEAL_WORK / (SAMPLED_SHOTS << n)),
    )?;
    let opts = SimOptions {
        shots: SAMPLED_SHOTS,
        seed: Some(0x9e37_79b9),
        max_qubits: MAX_SAMPLED_QUBITS,
        ..Default::default()
    };
    let r = sim::simulate(c, &opts, cancel, &|_| {}).map_err(|e| match e {
        EngineError::Cancelled => NoIdeal::Failed("cancelled".into()),
        e => NoIdeal::Failed(e.to_string()),
    })?;
    let probs = r
        .counts
        .into_iter()
        .map(|(k, v)| (k, v as f64 / SAMPLED_SHOTS as f64))
        .collect();
    Ok(Ideal {
        probs,
        sampled_shots: Some(SAMPLED_SHOTS),
    })
}

fn too_long(c: &Circuit, limit: usize) -> Result<(), NoIdeal> {
    if c.instructions.len() > limit {
        return Err(NoIdeal::TooLong {
            instructions: c.instructions.len(),
            limit,
        });
    }
    Ok(())
}

/// Keys compared without spaces, so `"1 01"` and `"101"` are the same outcome.
fn norm(key: &str) -> String {
    key.chars().filter(|c| !c.is_whitespace()).collect()
}

fn normalized(p: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (k, v) in p {
        *out.entry(norm(k)).or_default() += v;
    }
    out
}

/// Total-variation distance between two distributions (by normalized key).
pub fn tvd(p: &BTreeMap<String, f64>, q: &BTreeMap<String, f64>) -> f64 {
    let mut diff = normalized(p);
    for (k, v) in q {
        *diff.entry(norm(k)).or_default() -= v;
    }
    0.5 * diff.values().map(|d| d.abs()).sum::<f64>()
}

/// Expected TVD of an `shots`-sample empirical distribution from `p` under shot
/// noise alone: ½ Σ E|p̂ − p| with E|p̂ − p| ≈ √(2 p(1−p) / (π N)) (normal
/// approximation). A sampled ideal adds its own variance.
pub fn noise_floor(p: &BTreeMap<String, f64>, shots: f64, ideal_shots: Option<f64>) -> f64 {
    let inv = 1.0 / shots + ideal_shots.map_or(0.0, |m| 1.0 / m);
    0.5 * p
        .values()
        .map(|&x| (2.0 * x * (1.0 - x) * inv / std::f64::consts::PI).sqrt())
        .sum::<f64>()
}

pub(super) fn tvd_finding(
    c: &Circuit,
    counts: &BTreeMap<String, u64>,
    hardware_loss: Option<f64>,
    cancel: &Cancel,
) -> Option<Finding> {
    let shots: u64 = counts.values().sum();
    if shots == 0 {
        return None;
    }
    let ideal = match ideal_distribution(c, cancel) {
        Ok(i) => i,
        Err(NoIdeal::TooLarge { qubits, limit }) => {
            return Some(
                Finding::new(
                    "ideal_not_simulated",
                    Severity::Info,
                    format!(
                        "the ideal distribution was not computed: the circuit has {qubits} qubits and the analyzer simulates at most {limit}"
                    ),
                )
                .number("circuit_qubits", qubits as f64)
                .number("max_qubits", limit as f64),
            );
        }
        Err(NoIdeal::TooLong {
            instructions,
            limit,
        }) => {
            return Some(
                Finding::new(
                    "ideal_not_simulated",
                    Severity::Info,
                    format!(
                        "the ideal distribution was not computed: the circuit has {instructions} instructions and the analyzer simulates at most {limit}"
                    ),
                )
                .number("instructions", instructions as f64)
                .number("max_instructions", limit as f64),
            );
        }
        Err(NoIdeal::NoClbits | NoIdeal::Failed(_)) => return None,
    };
    let observed: BTreeMap<String, f64> = counts
        .iter()
        .map(|(k, &v)| (k.clone(), v as f64 / shots as f64))
        .collect();
    let width = ideal.probs.keys().next().map(|k| norm(k).len());
    if width.is_some_and(|w| observed.keys().all(|k| norm(k).len() != w)) {
        return Some(
            Finding::new(
                "counts_unrecognized",
                Severity::Warning,
                format!(
                    "the counts' outcomes are not {}-bit strings like the circuit's classical bits, so they cannot be compared with the ideal distribution",
                    width.unwrap_or(0)
                ),
            )
            .number("clbits", width.unwrap_or(0) as f64),
        );
    }
    let d = tvd(&ideal.probs, &observed);
    let floor = noise_floor(
        &ideal.probs,
        shots as f64,
        ideal.sampled_shots.map(|m| m as f64),
    );
    let threshold = NOISE_FLOOR_FACTOR * floor;
    let consistent = d <= threshold + 1e-12;
    let fidelity = hellinger_fidelity(&ideal.probs, &observed);
    // The outcome whose observed frequency departs most from the ideal.
    let (pi, po) = (normalized(&ideal.probs), normalized(&observed));
    let mut worst: Option<(&str, f64, f64)> = None;
    for k in pi.keys().chain(po.keys()) {
        let (a, b) = (
            pi.get(k).copied().unwrap_or(0.0),
            po.get(k).copied().unwrap_or(0.0),
        );
        if worst.is_none_or(|(_, x, y)| (a - b).abs() > (x - y).abs() + 1e-12) {
            worst = Some((k, a, b));
        }
    }
    let severity = if consistent {
        Severity::Info
    } else if d >= 0.5 {
        Severity::Error
    } else {
        Severity::Warning
    };
    let how = if ideal.sampled_shots.is_some() {
        "sampled"
    } else {
        "exact"
    };
    let mut message = format!(
        "the observed counts are at total-variation distance {d:.4} from the ideal ({how}) distribution over {shots} shots; shot noise alone gives about {floor:.4}, so this is {}",
        if consistent {
            "consistent with the ideal circuit"
        } else {
            "more than shot noise explains"
        }
    );
    if let Some((k, pi, po)) = &worst
        && !consistent
    {
        message.push_str(&format!(
            " (largest gap: '{k}' ideal {pi:.3}, observed {po:.3})"
        ));
    }
    let mut f = Finding::new("tvd_from_ideal", severity, message)
        .number("tvd", d)
        .number("noise_floor", floor)
        .number("threshold", threshold)
        .number("shots", shots as f64)
        .number("hellinger_fidelity", fidelity)
        .number("ideal_outcomes", ideal.probs.len() as f64);
    if let Some(m) = ideal.sampled_shots {
        f = f.number("ideal_sampled_shots", m as f64);
    }
    if let Some(loss) = hardware_loss {
        f = f.number("estimated_hardware_error", loss);
    }
    if !consistent {
        f = f.suggest(match hardware_loss {
            Some(loss) if d <= loss + threshold => format!(
                "the gap is within what the device's errors predict (about {loss:.2} of the shots go wrong): reduce 2-qubit gates and depth, pick better qubits, or apply readout-error mitigation"
            ),
            Some(loss) => format!(
                "the gap exceeds what calibration predicts ({loss:.2}): check that the circuit is the one intended (bit order: clbit 0 is rightmost) and the backend's current calibration"
            ),
            None => "compare with a noisy simulation on the device; check the circuit and the bit order (clbit 0 is rightmost)".into(),
        });
    }
    Some(f)
}

/// (Σ √(p q))², the classical fidelity of two distributions.
fn hellinger_fidelity(p: &BTreeMap<String, f64>, q: &BTreeMap<String, f64>) -> f64 {
    let q = normalized(q);
    let s: f64 = normalized(p)
        .iter()
        .map(|(k, v)| (v * q.get(k).copied().unwrap_or(0.0)).sqrt())
        .sum();
    s * s
}

/// Worst-case standard error of an estimated probability over `shots`: √(¼ / N).
pub fn standard_error(shots: f64) -> f64 {
    0.5 / shots.sqrt()
}

/// Shots for a worst-case standard error of at most `precision`: ⌈¼ / ε²⌉.
pub fn shots_needed(precision: f64) -> u64 {
    (0.25 / (precision * precision) - 1e-9).ceil().max(1.0) as u64
}

pub(super) fn shots_finding(shots: u64, precision: f64) -> Option<Finding> {
    if !(precision > 0.0 && precision < 0.5) || shots == 0 {
        return None;
    }
    let se = standard_error(shots as f64);
    if se <= precision {
        return None;
    }
    let needed = shots_needed(precision);
    Some(
        Finding::new(
            "too_few_shots",
            Severity::Warning,
            format!(
                "{shots} shots give a standard error of up to {se:.4} on each probability; the precision asked is {precision} and needs {needed} shots"
            ),
        )
        .number("shots", shots as f64)
        .number("standard_error", se)
        .number("target_precision", precision)
        .number("shots_needed", needed as f64)
        .suggest(format!("run {needed} shots (or more)")),
    )
}
