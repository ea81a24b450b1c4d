//! The fused ops' inner loops, compiled for the widest vector unit the CPU has.
//!
//! A release build targets baseline x86-64 (SSE2, 4 lanes), as a binary copied to any node must.
//! A loop defined with [`vectorised!`] is compiled three times: baseline, AVX2 + FMA (8 lanes),
//! and AVX-512 (16 lanes). The CPU's best is picked at run time, a cached check per call. The
//! three compute the same operations in the same order, so their results are identical (a
//! test checks that). Rust never fuses a multiply and an add on its own, so FMA being available
//! changes nothing.
//!
//! Sums run in [`LANES`] partial sums, so that they vectorise as well. Their rounding differs
//! from a sum taken in order by a few ulps.

use std::sync::OnceLock;

/// The partial sums a reduction keeps: one AVX-512 register of f32.
pub(crate) const LANES: usize = 16;

/// The vector instructions a loop runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Baseline,
    /// AVX2 and FMA (x86-64-v3).
    V3,
    /// AVX-512 F/BW/DQ/VL (x86-64-v4).
    V4,
}

impl Level {
    fn detect() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
                return Level::V4;
            }
            if has!("avx2") && has!("fma") {
                return Level::V3;
            }
        }
        Level::Baseline
    }

    /// Every level this CPU can run (tests compare them).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Level> {
        let best = Level::detect();
        [Level::Baseline, Level::V3, Level::V4]
            .into_iter()
            .filter(|l| (*l as u8) <= (best as u8))
            .collect()
    }
}

#[cfg(test)]
thread_local! {
    /// A test's choice of level for the loops it calls on its own thread.
    pub(crate) static FORCED: std::cell::Cell<Option<Level>> = const { std::cell::Cell::new(None) };
}

/// The level the loops run at.
pub(crate) fn level() -> Level {
    #[cfg(test)]
    if let Some(forced) = FORCED.with(std::cell::Cell::get) {
        return forced;
    }
    static DETECTED: OnceLock<Level> = OnceLock::new();
    *DETECTED.get_or_init(Level::detect)
}

/// Defines a function whose body is compiled for each [`Level`] and run at the CPU's. What the
/// body calls must be inlined into it (`#[inline(always)]`): only inlined code is compiled with
/// the wider instructions.
macro_rules! vectorised {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                use $crate::worker::model::ops::simd::{level, Level};
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                fn v4($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                match level() {
                    // SAFETY: `level` found these instructions on this CPU.
                    Level::V4 => return unsafe { v4($($arg),*) },
                    // SAFETY: as above.
                    Level::V3 => return unsafe { v3($($arg),*) },
                    Level::Baseline => {}
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use vectorised;

/// The sum of `x`, in [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            acc[j] += c[j];
        }
    }
    for (j, v) in rest.iter().enumerate() {
        acc[j] += v;
    }
    fold(acc)
}

/// The sum of `a[i] * b[i]`, in [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] += x[j] * y[j];
        }
    }
    for (j, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[j] += x * y;
    }
    fold(acc)
}

/// The sum of `(x[i] - c)²`, in [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn sum_squares_about(x: &[f32], c: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for v in chunks {
        for j in 0..LANES {
            acc[j] += (v[j] - c) * (v[j] - c);
        }
    }
    for (j, v) in rest.iter().enumerate() {
        acc[j] += (v - c) * (v - c);
    }
    fold(acc)
}

/// The largest of `x` (negative infinity for none).
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            acc[j] = acc[j].max(c[j]);
        }
    }
    for (j, v) in rest.iter().enumerate() {
        acc[j] = acc[j].max(*v);
    }
    acc.into_iter().fold(f32::NEG_INFINITY, f32::max)
}

/// The partial sums added pairwise.
#[inline(always)]
fn fold(mut acc: [f32; LANES]) -> f32 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for j in 0..width {
            acc[j] += acc[j + width];
        }
    }
    acc[0]
}

/// Runs `f` at every level this CPU has, and checks that each gives what the baseline gives,
/// to the bit (tests of each vectorised loop call it).
#[cfg(test)]
pub(crate) fn assert_same_at_every_level<T: PartialEq + std::fmt::Debug>(f: impl Fn() -> T) {
    let results: Vec<(Level, T)> = Level::available()
        .into_iter()
        .map(|level| {
            FORCED.with(|forced| forced.set(Some(level)));
            let result = f();
            FORCED.with(|forced| forced.set(None));
            (level, result)
        })
        .collect();
    let (_, baseline) = &results[0];
    for (level, result) in &results[1..] {
        assert_eq!(result, baseline, "{level:?} differs from the baseline");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    vectorised! {
        fn reductions(x: &[f32], y: &[f32]) -> [f32; 3] {
            [sum(x), dot(x, y), max(x)]
        }
    }

    /// The partial sums agree with sums in f64 to f32 rounding, at every level, for lengths
    /// that are and are not multiples of the lanes.
    #[test]
    fn reductions_are_sums_at_every_level() {
        for n in [0, 1, 5, 16, 17, 100, 384] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.25)
                .collect();
            let y: Vec<f32> = (0..n).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.5).collect();
            let exact_sum: f64 = x.iter().map(|v| *v as f64).sum();
            let exact_dot: f64 = x.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
            let exact_max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for level in Level::available() {
                FORCED.with(|f| f.set(Some(level)));
                let [s, d, m] = reductions(&x, &y);
                assert!(
                    (s as f64 - exact_sum).abs() < 1e-4,
                    "{level:?} n={n} sum {s}"
                );
                assert!(
                    (d as f64 - exact_dot).abs() < 1e-4,
                    "{level:?} n={n} dot {d}"
                );
                assert_eq!(m, exact_max, "{level:?} n={n}");
            }
            FORCED.with(|f| f.set(None));
        }
    }
}
