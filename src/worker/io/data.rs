//! The Financial PhraseBank format: one `sentence@label` a line, ISO-8859-1, with CR, LF and
//! CRLF line ends all in one file. The label follows the LAST `@` (sentences contain `@` too).

use std::path::{Path, PathBuf};

use crate::worker::rng::SplitMix64;

pub const LABELS: [&str; 3] = ["negative", "neutral", "positive"];

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    pub label: usize,
    /// 1-based line in the source file.
    pub line: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read data file {path}{}", if source.kind() == std::io::ErrorKind::NotFound { " (scripts/link-data.sh links the Financial PhraseBank file; or set train.data)" } else { "" })]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {problem} (use --skip-bad-lines to skip such lines)")]
    BadLine {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("{path}: no usable lines")]
    Empty { path: PathBuf },
    #[error(
        "{path}: {problem}; per class (negative/neutral/positive) the data has {counts:?}, and the split {fractions:?} gives train {train}, validation {validation}, test {test}. Add data or change train.split"
    )]
    SplitTooSmall {
        path: PathBuf,
        problem: String,
        counts: [usize; 3],
        fractions: [f64; 3],
        train: usize,
        validation: usize,
        test: usize,
    },
}

/// What reading produced: the examples and the lines skipped (with why).
#[derive(Debug, Default)]
pub struct Dataset {
    pub examples: Vec<Example>,
    pub skipped: Vec<(usize, String)>,
}

pub fn read_file(path: &Path, skip_bad_lines: bool) -> Result<Dataset, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes, path, skip_bad_lines)
}

/// Decodes ISO-8859-1: every byte is the code point of the same number.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// UTF-8 when the bytes are valid UTF-8, else ISO-8859-1 (for files typed by people).
pub fn latin1_or_utf8(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => latin1(bytes),
    }
}

/// Splits on `\r\n`, `\r` and `\n`.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\r', '\n']) {
            Some(i) => {
                let line = &rest[..i];
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
        }
    })
}

pub fn parse(bytes: &[u8], path: &Path, skip_bad_lines: bool) -> Result<Dataset, DataError> {
    let text = latin1(bytes);
    let mut data = Dataset::default();
    for (i, raw) in lines(&text).enumerate() {
        let line_no = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        match parse_line(raw) {
            Ok((text, label)) => data.examples.push(Example {
                text,
                label,
                line: line_no,
            }),
            Err(problem) if skip_bad_lines => data.skipped.push((line_no, problem)),
            Err(problem) => {
                return Err(DataError::BadLine {
                    path: path.to_path_buf(),
                    line: line_no,
                    problem,
                });
            }
        }
    }
    if data.examples.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(data)
}

fn parse_line(raw: &str) -> Result<(String, usize), String> {
    let Some((sentence, label)) = raw.rsplit_once('@') else {
        return Err(format!("no '@' before a label in {:?}", shorten(raw)));
    };
    let label = label.trim();
    let Some(index) = LABELS.iter().position(|l| *l == label) else {
        return Err(format!(
            "unknown label {label:?} (expected negative, neutral or positive)"
        ));
    };
    let sentence = sentence.trim();
    if sentence.is_empty() {
        return Err("empty sentence before '@'".to_string());
    }
    Ok((sentence.to_string(), index))
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        s.chars().take(57).collect::<String>() + "..."
    } else {
        s.to_string()
    }
}

/// Indices of the train, validation and test sets.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitIndices {
    pub seed: u64,
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

/// A seeded split that keeps each label's share in every part (stratified).
pub fn stratified_split(examples: &[Example], fractions: [f64; 3], seed: u64) -> SplitIndices {
    let mut split = SplitIndices {
        seed,
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
    };
    for label in 0..LABELS.len() {
        let mut idx: Vec<usize> = examples
            .iter()
            .enumerate()
            .filter(|(_, e)| e.label == label)
            .map(|(i, _)| i)
            .collect();
        SplitMix64::keyed(seed, &[0x5EED, label as u64]).shuffle(&mut idx);
        let n = idx.len();
        let n_test = (n as f64 * fractions[2]).round() as usize;
        let n_val = ((n as f64 * fractions[1]).round() as usize).min(n - n_test);
        split.test.extend_from_slice(&idx[..n_test]);
        split
            .validation
            .extend_from_slice(&idx[n_test..n_test + n_val]);
        split.train.extend_from_slice(&idx[n_test + n_val..]);
    }
    for part in [&mut split.train, &mut split.validation, &mut split.test] {
        part.sort_unstable();
    }
    split
}

/// Refuses a split that cannot train or measure anything: an empty set whose fraction is
/// above 0, or a class with no training example (the model could never predict it).
pub fn check_split(
    examples: &[Example],
    split: &SplitIndices,
    fractions: [f64; 3],
    path: &Path,
) -> Result<(), DataError> {
    let mut counts = [0usize; 3];
    for e in examples {
        counts[e.label] += 1;
    }
    let mut in_train = [0usize; 3];
    for &i in &split.train {
        in_train[examples[i].label] += 1;
    }
    let empty = [
        ("train", fractions[0], split.train.len()),
        ("validation", fractions[1], split.validation.len()),
        ("test", fractions[2], split.test.len()),
    ]
    .into_iter()
    .find(|(_, f, n)| *f > 0.0 && *n == 0)
    .map(|(name, _, _)| format!("the {name} set is empty"));
    let absent: Vec<&str> = (0..3)
        .filter(|&c| in_train[c] == 0)
        .map(|c| LABELS[c])
        .collect();
    let problem = empty.or_else(|| {
        (!absent.is_empty()).then(|| {
            format!(
                "no training example is {}, so the model could never learn it",
                absent.join(" or ")
            )
        })
    });
    match problem {
        None => Ok(()),
        Some(problem) => Err(DataError::SplitTooSmall {
            path: path.to_path_buf(),
            problem,
            counts,
            fractions,
            train: split.train.len(),
            validation: split.validation.len(),
            test: split.test.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(bytes: &[u8]) -> Result<Dataset, DataError> {
        parse(bytes, Path::new("t.txt"), false)
    }

    #[test]
    fn all_line_ends_and_latin1() {
        let bytes =
            b"Profit rose \xa35m@positive\r\nLoss @ caf\xe9@negative\rFlat@neutral\nLast@neutral";
        let d = p(bytes).unwrap();
        let texts: Vec<&str> = d.examples.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["Profit rose £5m", "Loss @ café", "Flat", "Last"]);
        assert_eq!(
            d.examples.iter().map(|e| e.label).collect::<Vec<_>>(),
            [2, 0, 1, 1]
        );
        assert_eq!(d.examples[2].line, 3);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let e = p(b"ok@neutral\nno label here\n").unwrap_err().to_string();
        assert!(e.starts_with("t.txt:2: no '@'"), "{e}");
        let e = p(b"ok@neutral\nx@bullish\n").unwrap_err().to_string();
        assert!(e.contains("t.txt:2: unknown label \"bullish\""), "{e}");
        let e = p(b" @positive\n").unwrap_err().to_string();
        assert!(e.contains("t.txt:1: empty sentence"), "{e}");
    }

    #[test]
    fn skip_bad_lines_counts_them() {
        let d = parse(
            b"ok@neutral\nbad\nx@bullish\ny@positive",
            Path::new("t"),
            true,
        )
        .unwrap();
        assert_eq!(d.examples.len(), 2);
        assert_eq!(d.skipped.iter().map(|s| s.0).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn split_is_stratified_seeded_and_complete() {
        let examples: Vec<Example> = (0..1000)
            .map(|i| Example {
                text: format!("s{i}"),
                label: if i % 10 < 2 {
                    0
                } else if i % 10 < 8 {
                    1
                } else {
                    2
                },
                line: i + 1,
            })
            .collect();
        let s = stratified_split(&examples, [0.7, 0.2, 0.1], 42);
        assert_eq!(s, stratified_split(&examples, [0.7, 0.2, 0.1], 42));
        assert_ne!(
            s.test,
            stratified_split(&examples, [0.7, 0.2, 0.1], 43).test
        );
        let mut all: Vec<usize> = [s.train.clone(), s.validation.clone(), s.test.clone()].concat();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(
            (s.train.len(), s.validation.len(), s.test.len()),
            (700, 200, 100)
        );
        let neg_in_test = s.test.iter().filter(|&&i| examples[i].label == 0).count();
        assert_eq!(neg_in_test, 20);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = parse(&bytes, Path::new("f"), false);
            let _ = parse(&bytes, Path::new("f"), true);
        }
    }
}
