//! The float type of the amplitudes.
//!
//! Double precision (complex128) is the default and what the Quest judge, the analyzer and
//! the equivalence checker use: they compare amplitudes to 1e-9 and tighter. Single
//! precision (complex64) is opt-in: half the bytes per amplitude and twice as many
//! amplitudes per vector, at ~1e-7 relative rounding per gate (what qsim computes in).

use num_complex::Complex;
use serde::Serialize;

/// Amplitude precision of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// complex128 (`f64` real and imaginary parts).
    #[default]
    Double,
    /// complex64 (`f32`): opt-in, for speed.
    Single,
}

impl Precision {
    pub fn is_double(&self) -> bool {
        *self == Precision::Double
    }

    /// Bytes per amplitude.
    pub fn amplitude_bytes(self) -> u128 {
        match self {
            Precision::Double => 16,
            Precision::Single => 8,
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "double" | "complex128" | "f64" => Ok(Precision::Double),
            "single" | "complex64" | "f32" => Ok(Precision::Single),
            _ => Err(format!(
                "unknown precision '{s}' (expected 'single' or 'double')"
            )),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Double => "double",
            Precision::Single => "single",
        })
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// `f64` or `f64`'s single-precision counterpart `f32`; sealed, so code that dispatches on
/// [`Real::PRECISION`] (the vectorised kernels) may rely on `Double` meaning `f64`.
pub trait Real:
    num_traits::Float
    + num_traits::NumAssign
    + Default
    + Send
    + Sync
    + std::fmt::Debug
    + std::fmt::Display
    + std::iter::Sum
    + sealed::Sealed
    + 'static
{
    const PRECISION: Precision;
    /// `x` rounded to this type.
    fn of(x: f64) -> Self;
    fn to_f64(self) -> f64;

    /// A complex128 coefficient rounded to this precision.
    #[inline(always)]
    fn c(z: Complex<f64>) -> Complex<Self> {
        Complex::new(Self::of(z.re), Self::of(z.im))
    }

    #[inline(always)]
    fn to_c64(z: Complex<Self>) -> Complex<f64> {
        Complex::new(z.re.to_f64(), z.im.to_f64())
    }
}

impl Real for f64 {
    const PRECISION: Precision = Precision::Double;
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}

impl Real for f32 {
    const PRECISION: Precision = Precision::Single;
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}
