//! The batches of each epoch, drawn from the seed alone (a resumed run draws the same ones).

use crate::spec::TrainTable;
use crate::worker::rng::SplitMix64;

/// The batches of one epoch: a seeded shuffle; with bucketing, sentences of similar length are
/// grouped (within windows of 50 batches) and the batch order is shuffled again.
pub fn epoch_batches(
    train: &[usize],
    lengths: &[usize],
    t: &TrainTable,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let mut order = train.to_vec();
    SplitMix64::keyed(t.seed, &[0xE90C, epoch as u64]).shuffle(&mut order);
    if !t.length_bucketing {
        return order
            .chunks(t.batch_size.get())
            .map(<[usize]>::to_vec)
            .collect();
    }
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for window in order.chunks(t.batch_size.get() * 50) {
        let mut w = window.to_vec();
        w.sort_by_key(|&i| lengths[i]);
        batches.extend(w.chunks(t.batch_size.get()).map(<[usize]>::to_vec));
    }
    SplitMix64::keyed(t.seed, &[0xB0C5, epoch as u64]).shuffle(&mut batches);
    batches
}

/// Tokens in the batches once padded, and without the padding.
pub fn padding_counts(batches: &[Vec<usize>], lengths: &[usize]) -> (u64, u64) {
    let mut padded = 0;
    let mut real = 0;
    for b in batches {
        let max = b.iter().map(|&i| lengths[i]).max().unwrap_or(0);
        padded += (max * b.len()) as u64;
        real += b.iter().map(|&i| lengths[i] as u64).sum::<u64>();
    }
    (padded, real)
}
