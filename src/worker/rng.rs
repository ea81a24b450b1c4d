//! A small counter-based random source. Every random draw in training is a pure function of
//! (seed, purpose, step, ...), so a resumed run draws exactly what the uninterrupted run drew
//! and no generator state has to be checkpointed.

/// The stream's step (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The top 24 bits as a float in [0, 1) (through i32, which vectorises; exact below 2^24).
#[inline(always)]
fn unit_f32(z: u64) -> f32 {
    ((z >> 40) as i32) as f32 / (1u32 << 24) as f32
}

/// SplitMix64: fast, well mixed, and seekable by construction.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A stream for one purpose: `keys` are mixed in one after another.
    pub fn keyed(seed: u64, keys: &[u64]) -> SplitMix64 {
        let mut s = SplitMix64(seed ^ 0x9E37_79B9_7F4A_7C15);
        for k in keys {
            let mixed = s.next_u64() ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03);
            s = SplitMix64(mixed);
        }
        s
    }

    /// The stream whose state is `state`, advanced by `draws` draws without making them.
    pub fn at(state: u64, draws: u64) -> SplitMix64 {
        SplitMix64(state.wrapping_add(draws.wrapping_mul(GAMMA)))
    }

    /// The raw state (what `at` and the GPU's dropout kernel start from).
    pub fn state(&self) -> u64 {
        self.0
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        unit_f32(self.next_u64())
    }

    /// The draw `next_f32` makes after `index` others on the stream whose state is `state`,
    /// made directly: a loop over indices has no chain from one draw to the next, so it
    /// vectorises (dropout masks).
    #[inline(always)]
    pub fn f32_at(state: u64, index: u64) -> f32 {
        unit_f32(mix(
            state.wrapping_add(index.wrapping_add(1).wrapping_mul(GAMMA))
        ))
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `at` is what lets dropout draw in parallel (and on the GPU): element i's draw does not
    /// depend on drawing the ones before it.
    #[test]
    fn at_skips_draws() {
        let mut sequential = SplitMix64::keyed(7, &[1, 2]);
        let state = sequential.state();
        for k in 0..1000u64 {
            let expected = sequential.next_u64();
            assert_eq!(SplitMix64::at(state, k).next_u64(), expected, "draw {k}");
        }
    }

    /// `f32_at` makes the draws `next_f32` makes, in any order.
    #[test]
    fn f32_at_is_the_indexed_draw() {
        let mut sequential = SplitMix64::keyed(3, &[9]);
        let state = sequential.state();
        for k in 0..1000u64 {
            assert_eq!(
                SplitMix64::f32_at(state, k),
                sequential.next_f32(),
                "draw {k}"
            );
        }
    }

    #[test]
    fn same_keys_same_stream() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = SplitMix64::keyed(42, &[1, 2]);
                move |_| r.next_u64()
            })
            .collect();
        let mut r = SplitMix64::keyed(42, &[1, 2]);
        assert_eq!(a, (0..4).map(|_| r.next_u64()).collect::<Vec<_>>());
        assert_ne!(
            SplitMix64::keyed(42, &[1, 3]).next_u64(),
            SplitMix64::keyed(42, &[1, 2]).next_u64()
        );
    }

    #[test]
    fn floats_in_range() {
        let mut r = SplitMix64::keyed(1, &[]);
        for _ in 0..10_000 {
            let x = r.next_f32();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
