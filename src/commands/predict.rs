//! `yenjob predict`: score headlines with a fine-tuned run's model.

use std::io::{Read, Write};
use std::path::PathBuf;

use crate::runs;
use crate::worker::io::predict::Classifier;

/// Sentences scored (and printed) at a time.
const CHUNK: usize = 1024;

pub fn run(
    job: Option<&str>,
    model: Option<PathBuf>,
    file: Option<PathBuf>,
    texts: Vec<String>,
    json: bool,
) -> anyhow::Result<i32> {
    // `predict 1941` labels the text "1941"; whoever typed it likely meant the run.
    if let ([only], None, None, None) = (texts.as_slice(), job, &model, &file)
        && runs::names_a_run(only)
    {
        eprintln!(
            "yenjob: note: labelling the text \"{only}\"; to use job {only}'s model instead: `yenjob predict --job {only}` (sentences as arguments, --file or stdin)"
        );
    }
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
    // Arguments, else the file, else standard input; files and stdin are read as the data
    // files are (UTF-8, else ISO-8859-1).
    let mut text = texts.join("\n");
    if let Some(f) = &file {
        let bytes =
            std::fs::read(f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
        text.push('\n');
        text.push_str(&crate::worker::io::data::latin1_or_utf8(&bytes));
    } else if texts.is_empty() {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| anyhow::anyhow!("cannot read standard input: {e}"))?;
        text = crate::worker::io::data::latin1_or_utf8(&bytes);
    }
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .peekable();
    if lines.peek().is_none() {
        anyhow::bail!("nothing to predict: give sentences as arguments, --file FILE, or on stdin");
    }
    // A chunk at a time, printed as soon as it is scored: output starts at once and memory
    // stays that of one chunk, whatever the number of lines.
    let mut out = std::io::stdout().lock();
    loop {
        let chunk: Vec<String> = lines.by_ref().take(CHUNK).map(str::to_string).collect();
        if chunk.is_empty() {
            break;
        }
        for p in classifier.predict(&chunk)? {
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"text": p.text, "label": p.label, "negative": p.probabilities[0], "neutral": p.probabilities[1], "positive": p.probabilities[2]})
                )?;
            } else {
                writeln!(
                    out,
                    "{:<8}  neg {:.3}  neu {:.3}  pos {:.3}  {}",
                    p.label, p.probabilities[0], p.probabilities[1], p.probabilities[2], p.text
                )?;
            }
        }
        out.flush()?;
    }
    Ok(0)
}
