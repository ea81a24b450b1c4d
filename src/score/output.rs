//! Writing scored rows: CSV (the input's columns, or `line` for a text file, then
//! `label,negative,neutral,positive`) or JSON lines (the input's object, or `line`, plus the
//! same four fields). Rows are written in input order and made durable a chunk at a time: the
//! file's length after a sync is what a resumed job keeps, so no row is ever torn or doubled.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::input::{Carried, Record};
use crate::worker::io::data::LABELS;

/// How the output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Csv,
    Jsonl,
}

impl OutputFormat {
    /// From the file's extension: `.jsonl`/`.ndjson`, else CSV.
    pub fn of(path: &Path) -> OutputFormat {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson") => OutputFormat::Jsonl,
            _ => OutputFormat::Csv,
        }
    }
}

/// A record's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub label: usize,
    pub probabilities: [f32; 3],
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}")]
pub struct OutputError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Whether `a` and `b` name one existing file: the same path, or another name for it (a
/// symbolic or hard link), which writing the output would overwrite the input through.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

pub struct Writer {
    path: PathBuf,
    format: OutputFormat,
    out: BufWriter<File>,
    /// The input's CSV header, when the input is CSV.
    columns: Vec<String>,
}

impl Writer {
    /// A new output file (replacing any), with its header row.
    pub fn create(
        path: &Path,
        format: OutputFormat,
        input_columns: Vec<String>,
    ) -> Result<Writer, OutputError> {
        let file = File::create(path).map_err(|source| OutputError {
            path: path.to_path_buf(),
            source,
        })?;
        let mut w = Writer {
            path: path.to_path_buf(),
            format,
            out: BufWriter::with_capacity(1 << 20, file),
            columns: input_columns,
        };
        if format == OutputFormat::Csv {
            let mut header: Vec<String> = if w.columns.is_empty() {
                vec!["line".into()]
            } else {
                w.columns.clone()
            };
            header.extend(["label", "negative", "neutral", "positive"].map(String::from));
            let line = csv_line(&header);
            w.write(line.as_bytes())?;
        }
        Ok(w)
    }

    /// The output of an earlier run, cut back to `length` (what it had made durable) and
    /// appended to.
    pub fn resume(
        path: &Path,
        format: OutputFormat,
        input_columns: Vec<String>,
        length: u64,
    ) -> Result<Writer, OutputError> {
        let err = |source| OutputError {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new().write(true).open(path).map_err(err)?;
        let found = file.metadata().map_err(err)?.len();
        if found < length {
            return Err(err(std::io::Error::other(format!(
                "it holds {found} bytes, fewer than the {length} an earlier run made durable: it was changed since, so the job cannot resume; remove it and start again"
            ))));
        }
        file.set_len(length).map_err(err)?;
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).map_err(err)?;
        Ok(Writer {
            path: path.to_path_buf(),
            format,
            out: BufWriter::with_capacity(1 << 20, file),
            columns: input_columns,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        self.out.write_all(bytes).map_err(|source| OutputError {
            path: self.path.clone(),
            source,
        })
    }

    /// One row: what the input record carries, then its label and probabilities.
    pub fn row(&mut self, record: &Record, score: Score) -> Result<(), OutputError> {
        let label = LABELS[score.label];
        let p = score.probabilities.map(|x| format!("{x:.6}"));
        let line = match self.format {
            OutputFormat::Csv => {
                let mut fields: Vec<String> = match &record.carried {
                    Carried::Line => vec![record.number.to_string()],
                    Carried::Row(fields) => fields.clone(),
                    Carried::Object(_) => vec![record.number.to_string()],
                };
                fields.push(label.to_string());
                fields.extend(p);
                csv_line(&fields)
            }
            OutputFormat::Jsonl => {
                let mut object = match &record.carried {
                    Carried::Object(o) => o.clone(),
                    Carried::Row(fields) => self
                        .columns
                        .iter()
                        .cloned()
                        .zip(fields.iter().map(|f| serde_json::Value::String(f.clone())))
                        .collect(),
                    Carried::Line => {
                        let mut o = serde_json::Map::new();
                        o.insert("line".into(), record.number.into());
                        o.insert("text".into(), record.text.clone().into());
                        o
                    }
                };
                object.insert("label".into(), label.into());
                for (name, x) in ["negative", "neutral", "positive"]
                    .iter()
                    .zip(score.probabilities)
                {
                    // Six decimals, as in CSV: the same bytes on every run.
                    let rounded: f64 = format!("{x:.6}").parse().unwrap_or(f64::from(x));
                    object.insert(name.to_string(), rounded.into());
                }
                let mut line = serde_json::Value::Object(object).to_string();
                line.push('\n');
                line
            }
        };
        self.write(line.as_bytes())
    }

    /// Flushes and syncs; returns the file's length, all of it durable.
    pub fn sync(&mut self) -> Result<u64, OutputError> {
        let err = |source| OutputError {
            path: self.path.clone(),
            source,
        };
        self.out.flush().map_err(err)?;
        let file = self.out.get_ref();
        file.sync_data().map_err(err)?;
        Ok(file.metadata().map_err(err)?.len())
    }
}

/// One CSV line, fields quoted when they hold a comma, a quote or a line break.
fn csv_line(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_name_for_a_file_is_the_same_file() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a.csv"), tmp.path().join("b.csv"));
        std::fs::write(&a, "x").unwrap();
        std::os::unix::fs::symlink(&a, tmp.path().join("link.csv")).unwrap();
        assert!(same_file(&a, &tmp.path().join("link.csv")));
        assert!(
            !same_file(&a, &b),
            "a file that does not exist is no other's"
        );
        std::fs::write(&b, "x").unwrap();
        assert!(!same_file(&a, &b));
    }

    #[test]
    fn a_resumed_file_drops_its_torn_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("out.csv");
        let record = |n: u64| Record {
            number: n,
            text: "t".into(),
            carried: Carried::Row(vec![n.to_string(), "a, \"b\"".into()]),
        };
        let score = Score {
            label: 2,
            probabilities: [0.1, 0.2, 0.7],
        };
        let mut w =
            Writer::create(&p, OutputFormat::Csv, vec!["id".into(), "text".into()]).unwrap();
        w.row(&record(1), score).unwrap();
        let durable = w.sync().unwrap();
        w.row(&record(2), score).unwrap();
        w.sync().unwrap();
        // A crash mid-row: half a line after the durable part.
        let mut w = Writer::resume(&p, OutputFormat::Csv, vec![], durable).unwrap();
        w.row(&record(2), score).unwrap();
        w.sync().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "id,text,label,negative,neutral,positive\n\
             1,\"a, \"\"b\"\"\",positive,0.100000,0.200000,0.700000\n\
             2,\"a, \"\"b\"\"\",positive,0.100000,0.200000,0.700000\n"
        );
    }
}
