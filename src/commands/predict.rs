//! `yenjob predict`: score headlines with a fine-tuned run's model.

use std::io::Read;
use std::path::PathBuf;

use crate::runs;
use crate::worker::predict::Classifier;

pub fn run(
    job: Option<&str>,
    model: Option<PathBuf>,
    file: Option<PathBuf>,
    texts: Vec<String>,
    json: bool,
) -> anyhow::Result<i32> {
    let dir = match (model, job) {
        (Some(m), _) => m,
        (None, Some(j)) => runs::find(Some(j))?.dir().model(),
        // The newest run that finished with a model (a later one may still be pending).
        (None, None) => runs::all()
            .into_iter()
            .rev()
            .map(|r| r.dir().model())
            .find(|m| m.join("config.json").is_file())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no finished run with a model yet: `yenjob status` shows where your runs are"
                )
            })?,
    };
    let classifier = Classifier::load(&dir)?;
    let mut inputs = texts;
    if let Some(f) = file {
        let text =
            std::fs::read(&f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
        inputs.extend(
            crate::worker::data::latin1_or_utf8(&text)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    if inputs.is_empty() {
        // Read like a file: bytes, then UTF-8 or else ISO-8859-1, as the data files are.
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| anyhow::anyhow!("cannot read standard input: {e}"))?;
        inputs.extend(
            crate::worker::data::latin1_or_utf8(&bytes)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    if inputs.is_empty() {
        anyhow::bail!("nothing to predict: give sentences as arguments, --file FILE, or on stdin");
    }
    for p in classifier.predict(&inputs)? {
        if json {
            println!(
                "{}",
                serde_json::json!({"text": p.text, "label": p.label, "negative": p.probabilities[0], "neutral": p.probabilities[1], "positive": p.probabilities[2]})
            );
        } else {
            println!(
                "{:<8}  neg {:.3}  neu {:.3}  pos {:.3}  {}",
                p.label, p.probabilities[0], p.probabilities[1], p.probabilities[2], p.text
            );
        }
    }
    Ok(0)
}
