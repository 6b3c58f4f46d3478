//! The circuit on the device: routed and translated as a job would be, then its
//! estimated success, its duration against coherence, its size after routing,
//! the weakest parts of its layout and a better layout when there is one.

use crate::device::Device;
use crate::noise::estimate_success;
use crate::opt::{self, Basis, stats};
use crate::route::{self, Routed};
use crate::{Cancel, EngineError};
use qollab_shared::analysis::{Finding, Severity};
use qollab_shared::circuit::{Circuit, Op};
use std::collections::BTreeMap;

/// Layout candidates compared when looking for a better layout.
pub const LAYOUT_CANDIDATES: usize = 12;

/// The circuit as it would run: logical optimization at `level`, layout and
/// routing, translation to the basis, clean-up (as `opt::optimize` does).
pub struct Physical {
    pub circuit: Circuit,
    pub swaps: usize,
    /// logical → physical at the start.
    pub layout: Vec<usize>,
}

/// Routes an already optimized logical circuit (from `layout` when given, else
/// with the router's own layout search) and finishes it for the device.
pub fn physical(
    logical: &Circuit,
    dev: &Device,
    basis: &Basis,
    level: u8,
    layout: Option<&[usize]>,
    cancel: &Cancel,
) -> Result<Physical, EngineError> {
    let Routed {
        circuit,
        swaps,
        layout,
    } = match layout {
        Some(l) => route::route_from(logical, dev, l, 0)?,
        None => route::route(logical, dev, 0, cancel)?,
    };
    let mut out = opt::synth::translate(&circuit, basis).map_err(EngineError::Invalid)?;
    if level >= 1 {
        out = opt::optimize_logical(&out, level.min(2), Some(basis), cancel)?;
    }
    Ok(Physical {
        circuit: out,
        swaps,
        layout: layout.initial,
    })
}

/// Product of (1 − error) over gates and readouts, and where the loss comes from.
pub struct Loss {
    pub gate_product: f64,
    pub readout_product: f64,
    /// By operation name (`cx`, `sx`, `measure`, …): (count, −Σ ln(1 − error)).
    pub by_kind: BTreeMap<String, (usize, f64)>,
    /// By physical coupler (low, high): (uses, error of one gate).
    pub couplers: BTreeMap<(usize, usize), (usize, f64)>,
    /// Physical qubits measured.
    pub measured: Vec<usize>,
    /// Physical qubits touched by anything.
    pub used: Vec<usize>,
}

pub fn loss(physical: &Circuit, dev: &Device) -> Loss {
    let mut l = Loss {
        gate_product: 1.0,
        readout_product: 1.0,
        by_kind: BTreeMap::new(),
        couplers: BTreeMap::new(),
        measured: Vec::new(),
        used: Vec::new(),
    };
    for ins in &physical.instructions {
        if !matches!(ins.op, Op::Barrier) {
            l.used.extend(ins.qubits.iter().copied());
        }
        match &ins.op {
            Op::Gate { gate, .. } => {
                let e = dev.gate_cal(gate.name(), &ins.qubits).0;
                l.gate_product *= 1.0 - e;
                let k = l.by_kind.entry(gate.name().to_owned()).or_default();
                k.0 += 1;
                k.1 += -(1.0 - e).max(1e-300).ln();
                if let [a, b] = ins.qubits[..] {
                    let c = l.couplers.entry((a.min(b), a.max(b))).or_insert((0, e));
                    c.0 += 1;
                    c.1 = c.1.max(e);
                }
            }
            Op::Measure => {
                for &q in &ins.qubits {
                    let e = dev.qubits.get(q).map_or(0.0, |c| c.readout_error);
                    l.readout_product *= 1.0 - e;
                    let k = l.by_kind.entry("measure".into()).or_default();
                    k.0 += 1;
                    k.1 += -(1.0 - e).max(1e-300).ln();
                    l.measured.push(q);
                }
            }
            _ => {}
        }
    }
    for v in [&mut l.measured, &mut l.used] {
        v.sort_unstable();
        v.dedup();
    }
    l
}

pub(super) fn success_finding(loss: &Loss, with_decoherence: f64) -> Finding {
    let p = loss.gate_product * loss.readout_product;
    let total: f64 = loss.by_kind.values().map(|v| v.1).sum();
    let mut kinds: Vec<(&String, &(usize, f64))> = loss.by_kind.iter().collect();
    kinds.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    let severity = if p < 0.3 {
        Severity::Error
    } else if p < 0.7 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut message = format!(
        "estimated success probability {p:.4} from gate and readout errors (gates {:.4} × readout {:.4}); {with_decoherence:.4} including T1 decay over the schedule",
        loss.gate_product, loss.readout_product
    );
    let mut f = Finding::new("estimated_success", severity, String::new())
        .number("success_probability", p)
        .number("gate_fidelity_product", loss.gate_product)
        .number("readout_fidelity_product", loss.readout_product)
        .number("success_with_decoherence", with_decoherence);
    if let Some((name, (count, l))) = kinds.first().filter(|_| total > 0.0) {
        let share = l / total;
        message.push_str(&format!(
            "; {count} {name} operations cause {:.0}% of the loss",
            share * 100.0
        ));
        f = f.number("dominant_loss_share", share);
        f = f.suggest(if name.as_str() == "measure" {
            "readout error dominates: measure only the qubits you need, pick qubits with lower readout error, or apply readout-error mitigation".to_string()
        } else if matches!(name.as_str(), "cx" | "cz" | "ecr" | "swap" | "rzz" | "iswap") {
            format!("{name} gates dominate the loss: reduce 2-qubit gates (optimizer level 2–3, a layout that needs fewer swaps, couplers with lower error)")
        } else {
            format!("{name} gates dominate the loss: merge single-qubit gates (optimizer level ≥ 1)")
        });
    }
    for (name, (count, l)) in &kinds {
        f = f.number(&format!("count_{name}"), *count as f64);
        if total > 0.0 {
            f = f.number(&format!("loss_share_{name}"), l / total);
        }
    }
    f.message = message;
    f
}

/// ASAP schedule with calibrated durations; terminal readouts happen together at the end.
pub struct Schedule {
    /// Gates and mid-circuit readouts, ns.
    pub gates_ns: f64,
    /// Including the final readout, ns.
    pub total_ns: f64,
    /// Per physical qubit: time from its first operation to its readout (or last operation).
    pub span_ns: BTreeMap<usize, f64>,
}

fn readout_ns(dev: &Device, q: usize) -> f64 {
    dev.qubits
        .get(q)
        .and_then(|c| c.readout_duration_ns)
        .unwrap_or(dev.readout_duration_ns)
}

pub fn schedule(physical: &Circuit, dev: &Device) -> Schedule {
    let n = physical.num_qubits();
    let mut free = vec![0.0f64; n];
    let mut first: Vec<Option<f64>> = vec![None; n];
    let mut read = vec![false; n];
    // Measurements with nothing after them on their qubits (and no conditions later).
    let mut later = vec![false; n];
    let mut cond_later = false;
    let mut terminal = vec![false; physical.instructions.len()];
    for (k, ins) in physical.instructions.iter().enumerate().rev() {
        if matches!(ins.op, Op::Measure) && !cond_later {
            terminal[k] = ins
                .qubits
                .iter()
                .all(|&q| !later.get(q).copied().unwrap_or(true));
        }
        if !matches!(ins.op, Op::Barrier) {
            ins.qubits.iter().for_each(|&q| {
                if let Some(l) = later.get_mut(q) {
                    *l = true;
                }
            });
        }
        cond_later |= ins.condition.is_some();
    }
    for (k, ins) in physical.instructions.iter().enumerate() {
        if terminal[k] {
            ins.qubits.iter().for_each(|&q| read[q] = true);
            continue;
        }
        let dur = match &ins.op {
            Op::Gate { gate, .. } => dev.gate_cal(gate.name(), &ins.qubits).1,
            Op::Measure => ins
                .qubits
                .iter()
                .map(|&q| readout_ns(dev, q))
                .fold(0.0, f64::max),
            _ => 0.0,
        };
        let start = ins
            .qubits
            .iter()
            .filter_map(|&q| free.get(q))
            .fold(0.0f64, |a, &b| a.max(b));
        for &q in &ins.qubits {
            if q < n {
                first[q].get_or_insert(start);
                free[q] = start + dur;
            }
        }
    }
    let gates_ns = free.iter().fold(0.0f64, |a, &b| a.max(b));
    let mut total_ns = gates_ns;
    let mut span_ns = BTreeMap::new();
    for q in 0..n {
        let end = if read[q] {
            let e = gates_ns + readout_ns(dev, q);
            total_ns = total_ns.max(e);
            e
        } else {
            free[q]
        };
        match first[q] {
            Some(s) => {
                span_ns.insert(q, (end - s).max(0.0));
            }
            None if read[q] => {
                span_ns.insert(q, readout_ns(dev, q));
            }
            None => {}
        }
    }
    Schedule {
        gates_ns,
        total_ns,
        span_ns,
    }
}

pub(super) fn duration_finding(s: &Schedule, dev: &Device, loss: &Loss) -> Option<Finding> {
    if s.span_ns.is_empty() {
        return None;
    }
    let (mut keep_t1, mut keep_t2) = (1.0f64, 1.0f64);
    let mut worst: Option<(usize, f64)> = None;
    for (&q, &span) in &s.span_ns {
        let cal = dev.qubits.get(q)?;
        keep_t1 *= (-span / (cal.t1_us * 1e3)).exp();
        keep_t2 *= (-span / (cal.t2_us * 1e3)).exp();
        let r = span / (cal.t2_us.min(cal.t1_us) * 1e3);
        if worst.is_none_or(|(_, w)| r > w) {
            worst = Some((q, r));
        }
    }
    let (q, _) = worst?;
    let cal = &dev.qubits[q];
    let span = s.span_ns[&q];
    let (t1_loss, t2_loss) = (1.0 - keep_t1, 1.0 - keep_t2);
    let gate_loss = 1.0 - loss.gate_product * loss.readout_product;
    let severity = if t1_loss >= 0.5 || t2_loss >= 0.5 {
        Severity::Error
    } else if t2_loss >= 0.1 || (t1_loss >= 0.02 && t1_loss >= gate_loss) {
        Severity::Warning
    } else {
        Severity::Info
    };
    let dominated = t1_loss >= gate_loss && t1_loss > 0.0;
    let mut f = Finding::new(
        "duration_vs_coherence",
        severity,
        format!(
            "the circuit takes {:.2} µs ({:.2} µs of gates, then readout); qubit {q} is busy {:.2} µs against T1 {:.1} µs and T2 {:.1} µs ({:.1}% of T1, {:.1}% of T2); expected loss to relaxation {:.1}% and to dephasing {:.1}% over the qubits used{}",
            s.total_ns / 1e3,
            s.gates_ns / 1e3,
            span / 1e3,
            cal.t1_us,
            cal.t2_us,
            100.0 * span / (cal.t1_us * 1e3),
            100.0 * span / (cal.t2_us * 1e3),
            100.0 * t1_loss,
            100.0 * t2_loss,
            if dominated {
                ", more than the gate and readout errors cost"
            } else {
                ""
            }
        ),
    )
    .number("duration_us", s.total_ns / 1e3)
    .number("gates_duration_us", s.gates_ns / 1e3)
    .number("worst_qubit", q as f64)
    .number("worst_qubit_busy_us", span / 1e3)
    .number("t1_us", cal.t1_us)
    .number("t2_us", cal.t2_us)
    .number("ratio_t1", span / (cal.t1_us * 1e3))
    .number("ratio_t2", span / (cal.t2_us * 1e3))
    .number("relaxation_loss", t1_loss)
    .number("dephasing_loss", t2_loss)
    .number("gate_readout_loss", gate_loss);
    if severity > Severity::Info {
        f = f.suggest("the circuit is long for the qubits' coherence: shorten the critical path (lower depth, fewer 2-qubit gates, optimizer level 2–3) or choose qubits with longer T1/T2; dynamical decoupling helps idle qubits");
    }
    Some(f)
}

pub(super) fn routed_finding(logical: &Circuit, p: &Physical) -> Finding {
    let before = stats(logical);
    let after = stats(&p.circuit);
    let growth = if before.two_qubit_gates > 0 {
        after.two_qubit_gates as f64 / before.two_qubit_gates as f64
    } else {
        1.0
    };
    let severity = if p.swaps > 0 && growth >= 1.5 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut f = Finding::new(
        "routed_size",
        severity,
        format!(
            "after layout and routing on the device: {} two-qubit gates (from {}), depth {} (from {}), {} gates, {} swaps added",
            after.two_qubit_gates,
            before.two_qubit_gates,
            after.depth,
            before.depth,
            after.gates,
            p.swaps
        ),
    )
    .number("two_qubit_gates", after.two_qubit_gates as f64)
    .number("two_qubit_gates_logical", before.two_qubit_gates as f64)
    .number("depth", after.depth as f64)
    .number("depth_logical", before.depth as f64)
    .number("gates", after.gates as f64)
    .number("swaps_added", p.swaps as f64);
    if severity > Severity::Info {
        f = f.suggest("routing multiplies the 2-qubit gates: rearrange the interactions to follow the coupling map (nearest neighbours), or choose a device whose connectivity fits");
    }
    f
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// The used coupler with the largest error and the used qubit with the largest
/// readout error, against the device's medians.
pub(super) fn weak_spots(loss: &Loss, dev: &Device, out: &mut Vec<Finding>) {
    let two_name = loss
        .by_kind
        .iter()
        .filter(|(k, _)| {
            qollab_shared::circuit::Gate::from_name(k).is_some_and(|g| g.num_qubits() == 2)
        })
        .max_by_key(|(_, v)| v.0)
        .map_or("cx", |(k, _)| k.as_str());
    if let Some((&(a, b), &(uses, err))) = loss
        .couplers
        .iter()
        .max_by(|x, y| x.1.1.total_cmp(&y.1.1).then(x.1.0.cmp(&y.1.0)))
    {
        let med = median(
            dev.coupling_map
                .iter()
                .map(|e| dev.gate_cal(two_name, &[e[0], e[1]]).0)
                .collect(),
        );
        let bad = med > 0.0 && err >= 2.0 * med;
        let mut f = Finding::new(
            "worst_coupler",
            if bad { Severity::Warning } else { Severity::Info },
            format!(
                "the weakest coupler in the layout is {a}–{b}: {two_name} error {err:.4} (device median {med:.4}), used {uses} times"
            ),
        )
        .number("qubit_a", a as f64)
        .number("qubit_b", b as f64)
        .number("error", err)
        .number("uses", uses as f64)
        .number("device_median_error", med);
        if bad {
            f = f.suggest(format!(
                "avoid coupler {a}–{b}: choose a layout on better couplers"
            ));
        }
        out.push(f);
    }
    if let Some((q, ro)) = loss
        .measured
        .iter()
        .filter_map(|&q| dev.qubits.get(q).map(|c| (q, c.readout_error)))
        .max_by(|x, y| x.1.total_cmp(&y.1))
    {
        let med = median(dev.qubits.iter().map(|c| c.readout_error).collect());
        let bad = med > 0.0 && ro >= 2.0 * med;
        let cal = &dev.qubits[q];
        let mut f = Finding::new(
            "worst_qubit",
            if bad { Severity::Warning } else { Severity::Info },
            format!(
                "the weakest measured qubit is {q}: readout error {ro:.4} (device median {med:.4}), T1 {:.1} µs, T2 {:.1} µs",
                cal.t1_us, cal.t2_us
            ),
        )
        .number("qubit", q as f64)
        .number("readout_error", ro)
        .number("device_median_readout_error", med)
        .number("t1_us", cal.t1_us)
        .number("t2_us", cal.t2_us)
        .number("qubit_cost", dev.qubit_cost(q));
        if bad {
            f = f.suggest(format!(
                "avoid qubit {q} for measured qubits: choose a layout on qubits with lower readout error"
            ));
        }
        out.push(f);
    }
}

/// Compares the current layout's estimated success (with decoherence) against
/// the router's candidate layouts on the cheapest regions of the device.
pub(super) fn better_layout(
    logical: &Circuit,
    dev: &Device,
    basis: &Basis,
    level: u8,
    current: &Physical,
    current_success: f64,
    cancel: &Cancel,
) -> Option<Finding> {
    let mut best: Option<(f64, Vec<usize>)> = None;
    for cand in route::candidate_layouts(logical, dev, LAYOUT_CANDIDATES) {
        if cand == current.layout {
            continue;
        }
        let Ok(p) = physical(logical, dev, basis, level, Some(&cand), cancel) else {
            continue;
        };
        let s = estimate_success(&p.circuit, dev);
        if best.as_ref().is_none_or(|(b, _)| s > *b) {
            best = Some((s, cand));
        }
    }
    let (s, layout) = best?;
    let gain = s - current_success;
    let relative = if current_success > 0.0 {
        gain / current_success
    } else {
        f64::INFINITY
    };
    if relative < 0.01 {
        return None;
    }
    let severity = if relative >= 0.1 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let list = |l: &[usize]| {
        l.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut f = Finding::new(
        "better_layout",
        severity,
        format!(
            "placing the logical qubits on physical qubits [{}] instead of [{}] raises the estimated success from {current_success:.4} to {s:.4} (+{:.1}%)",
            list(&layout),
            list(&current.layout),
            100.0 * relative.min(1e6)
        ),
    )
    .number("current_success", current_success)
    .number("better_success", s)
    .number("gain", gain)
    .number("relative_gain", relative.min(1e6))
    .suggest(format!(
        "use the initial layout [{}] (logical qubit i on the i-th physical qubit listed)",
        list(&layout)
    ));
    for (l, p) in layout.iter().enumerate() {
        f = f.number(&format!("layout_q{l}"), *p as f64);
    }
    Some(f)
}
