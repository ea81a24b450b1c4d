//! The one inference path, shared by evaluation and `predict`: sequences sorted by length and
//! scored in batches of `BATCH` (little padding), without dropout.

use candle_core::{Device, Tensor};

use super::bert::{self, Batch, Bert, Dropout};

/// Sentences scored at once.
pub const BATCH: usize = 64;

/// Runs `model` over `seqs` in batches of similar length; `each` gets the positions (into
/// `seqs`) of a batch's sequences and their logits.
pub fn batched_logits(
    model: &Bert,
    seqs: &[&[u32]],
    pad_id: u32,
    device: &Device,
    mut each: impl FnMut(&[usize], &Tensor) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&k| seqs[k].len());
    for chunk in order.chunks(BATCH) {
        let batch_seqs: Vec<&[u32]> = chunk.iter().map(|&k| seqs[k]).collect();
        let batch = Batch::new(&batch_seqs, pad_id, device)?;
        let logits = model.logits(&batch, &Dropout::off())?;
        each(chunk, &logits)?;
    }
    Ok(())
}

/// Class probabilities, one row a sequence, on the host.
pub fn probabilities(logits: &Tensor) -> anyhow::Result<Vec<[f32; 3]>> {
    let rows = bert::softmax_last(logits)?
        .to_device(&Device::Cpu)?
        .to_vec2::<f32>()?;
    Ok(rows.iter().map(|r| [r[0], r[1], r[2]]).collect())
}
