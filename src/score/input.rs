//! Reading a corpus one record at a time: a text file (a sentence a line), a CSV file with a
//! named text column, or JSON lines with a named field. Each record carries what the output
//! repeats (the CSV row, the JSON object, the line number), and the reader says where the next
//! record starts, so that a resumed job reads on from exactly there.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How the input is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// One sentence a line.
    Text,
    /// A header row, then one record a row; the text in a named column.
    Csv,
    /// One JSON object a line; the text in a named field.
    Jsonl,
}

impl InputFormat {
    /// From the file's extension: `.csv`, `.jsonl`/`.ndjson`, else text.
    pub fn of(path: &Path) -> InputFormat {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => InputFormat::Csv,
            Some("jsonl" | "ndjson") => InputFormat::Jsonl,
            _ => InputFormat::Text,
        }
    }
}

/// How bytes become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// A line that is not UTF-8 is skipped and counted (or stops the job with `--strict`).
    #[default]
    #[value(name = "utf-8")]
    #[serde(rename = "utf-8")]
    Utf8,
    /// ISO-8859-1: every byte is a character (the Financial PhraseBank's encoding).
    Latin1,
}

/// What the output repeats of an input record.
#[derive(Debug, Clone, PartialEq)]
pub enum Carried {
    /// A text line: its number.
    Line,
    /// A CSV row's fields, as read.
    Row(Vec<String>),
    /// A JSON line's object.
    Object(serde_json::Map<String, serde_json::Value>),
}

/// One record of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based: the line of a text or JSON-lines file, the data row of a CSV file.
    pub number: u64,
    pub text: String,
    pub carried: Carried,
}

/// Why a record cannot be scored; the job skips it and counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Bytes that are not UTF-8.
    NotUtf8,
    /// An empty line, or an empty text field.
    Empty,
    /// A JSON line that is not a JSON object.
    NotJson,
    /// A JSON object without the text field, or with a field that is not a string.
    NoText,
    /// A CSV row with another number of fields than the header.
    BadRow,
}

impl Problem {
    pub fn describe(self) -> &'static str {
        match self {
            Problem::NotUtf8 => "is not UTF-8 (use --encoding latin1 for ISO-8859-1 text)",
            Problem::Empty => "has no text",
            Problem::NotJson => "is not a JSON object",
            Problem::NoText => "has no text field (or it is not a string)",
            Problem::BadRow => "has another number of fields than the header",
        }
    }
}

/// A record, or why the one at `number` cannot be scored.
pub type Item = Result<Record, (u64, Problem)>;

/// Where reading resumes: the byte offset of the next record and its number minus one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Position {
    pub byte: u64,
    /// Records (lines or data rows) before this position.
    pub records: u64,
    /// The file's line before this position (CSV rows may span lines).
    pub line: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no column {column:?}; its header has: {header}")]
    NoColumn {
        path: PathBuf,
        column: String,
        header: String,
    },
    #[error(
        "{path}: a {format} file needs the name of the text {what} (--text-column NAME); {known}"
    )]
    ColumnNeeded {
        path: PathBuf,
        format: &'static str,
        what: &'static str,
        /// The names to choose from (`its header has: id, text`).
        known: String,
    },
    #[error("{path}: the header row cannot be read")]
    Header { path: PathBuf, source: csv::Error },
    #[error("{path}: line {line}")]
    Csv {
        path: PathBuf,
        line: u64,
        source: csv::Error,
    },
}

/// The field names of a JSON-lines file's first line, when it is an object.
fn first_object_fields(path: &Path) -> Option<String> {
    let mut line = String::new();
    BufReader::new(std::io::Read::take(File::open(path).ok()?, 1 << 20))
        .read_line(&mut line)
        .ok()?;
    match serde_json::from_str(&line).ok()? {
        serde_json::Value::Object(o) => Some(o.keys().cloned().collect::<Vec<_>>().join(", ")),
        _ => None,
    }
}

/// Reads records from one input file, from a position on.
pub struct Reader {
    path: PathBuf,
    encoding: Encoding,
    kind: Kind,
    position: Position,
}

enum Kind {
    Lines {
        file: BufReader<File>,
        json_field: Option<String>,
    },
    Csv {
        reader: csv::Reader<BufReader<File>>,
        column: usize,
    },
}

impl Reader {
    /// Opens `path`; `text_column` names the CSV column or JSON field holding the text.
    pub fn open(
        path: &Path,
        format: InputFormat,
        text_column: Option<&str>,
        encoding: Encoding,
    ) -> Result<Reader, InputError> {
        let read = |source| InputError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = BufReader::with_capacity(1 << 20, File::open(path).map_err(read)?);
        let kind =
            match format {
                InputFormat::Text => Kind::Lines {
                    file,
                    json_field: None,
                },
                InputFormat::Jsonl => Kind::Lines {
                    file,
                    json_field: Some(text_column.map(str::to_string).ok_or_else(|| {
                        InputError::ColumnNeeded {
                            path: path.to_path_buf(),
                            format: "JSON-lines",
                            what: "field",
                            known: match first_object_fields(path) {
                                Some(fields) => format!("its first line has: {fields}"),
                                None => "its first line is not a JSON object".to_string(),
                            },
                        }
                    })?),
                },
                InputFormat::Csv => {
                    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
                    let header = reader
                        .byte_headers()
                        .map_err(|source| InputError::Header {
                            path: path.to_path_buf(),
                            source,
                        })?
                        .clone();
                    let names: Vec<String> = header
                        .iter()
                        .map(|h| decode(h, encoding).unwrap_or_default())
                        .collect();
                    let name = text_column.ok_or_else(|| InputError::ColumnNeeded {
                        path: path.to_path_buf(),
                        format: "CSV",
                        what: "column",
                        known: format!("its header has: {}", names.join(", ")),
                    })?;
                    let column = names.iter().position(|h| h == name).ok_or_else(|| {
                        InputError::NoColumn {
                            path: path.to_path_buf(),
                            column: name.to_string(),
                            header: names.join(", "),
                        }
                    })?;
                    Kind::Csv { reader, column }
                }
            };
        let mut reader = Reader {
            path: path.to_path_buf(),
            encoding,
            kind,
            position: Position::default(),
        };
        if let Kind::Csv { reader: csv, .. } = &reader.kind {
            let p = csv.position();
            reader.position = Position {
                byte: p.byte(),
                records: 0,
                line: p.line().saturating_sub(1),
            };
        }
        Ok(reader)
    }

    /// The CSV header's column names (empty for other formats).
    pub fn header(&mut self) -> Vec<String> {
        match &mut self.kind {
            Kind::Csv { reader, .. } => reader
                .byte_headers()
                .map(|h| {
                    h.iter()
                        .map(|f| decode(f, self.encoding).unwrap_or_default())
                        .collect()
                })
                .unwrap_or_default(),
            Kind::Lines { .. } => Vec::new(),
        }
    }

    /// Where the next record starts.
    pub fn position(&self) -> Position {
        self.position
    }

    /// Continues from `position` (as `position()` returned it in an earlier run).
    pub fn seek(&mut self, position: Position) -> Result<(), InputError> {
        let read = |source| InputError::Read {
            path: self.path.clone(),
            source,
        };
        match &mut self.kind {
            Kind::Lines { file, .. } => {
                file.seek(SeekFrom::Start(position.byte)).map_err(read)?;
            }
            Kind::Csv { reader, .. } => {
                let mut p = csv::Position::new();
                p.set_byte(position.byte)
                    .set_line(position.line + 1)
                    .set_record(position.records + 1);
                reader.seek(p).map_err(|e| InputError::Read {
                    path: self.path.clone(),
                    source: std::io::Error::other(e),
                })?;
            }
        }
        self.position = position;
        Ok(())
    }

    /// The next record, `Ok(None)` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<Item>, InputError> {
        let encoding = self.encoding;
        match &mut self.kind {
            Kind::Lines { file, json_field } => {
                let mut bytes = Vec::new();
                let n = file
                    .read_until(b'\n', &mut bytes)
                    .map_err(|source| InputError::Read {
                        path: self.path.clone(),
                        source,
                    })?;
                if n == 0 {
                    return Ok(None);
                }
                self.position.byte += n as u64;
                self.position.records += 1;
                self.position.line += 1;
                let number = self.position.records;
                while matches!(bytes.last(), Some(b'\n' | b'\r')) {
                    bytes.pop();
                }
                let Some(line) = decode(&bytes, encoding) else {
                    return Ok(Some(Err((number, Problem::NotUtf8))));
                };
                Ok(Some(match json_field {
                    None => text_record(number, line, Carried::Line),
                    Some(field) => json_record(number, &line, field),
                }))
            }
            Kind::Csv { reader, column } => {
                let mut row = csv::ByteRecord::new();
                let line = reader.position().line();
                let more = reader
                    .read_byte_record(&mut row)
                    .map_err(|source| InputError::Csv {
                        path: self.path.clone(),
                        line,
                        source,
                    })?;
                if !more {
                    return Ok(None);
                }
                let p = reader.position();
                self.position = Position {
                    byte: p.byte(),
                    records: self.position.records + 1,
                    line: p.line().saturating_sub(1),
                };
                let number = self.position.records;
                let fields: Option<Vec<String>> = row.iter().map(|f| decode(f, encoding)).collect();
                let Some(fields) = fields else {
                    return Ok(Some(Err((number, Problem::NotUtf8))));
                };
                let Some(text) = fields.get(*column).cloned() else {
                    return Ok(Some(Err((number, Problem::BadRow))));
                };
                Ok(Some(text_record(number, text, Carried::Row(fields))))
            }
        }
    }
}

fn text_record(number: u64, text: String, carried: Carried) -> Item {
    if text.trim().is_empty() {
        return Err((number, Problem::Empty));
    }
    Ok(Record {
        number,
        text,
        carried,
    })
}

fn json_record(number: u64, line: &str, field: &str) -> Item {
    if line.trim().is_empty() {
        return Err((number, Problem::Empty));
    }
    let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(line)
    else {
        return Err((number, Problem::NotJson));
    };
    let Some(serde_json::Value::String(text)) = object.get(field) else {
        return Err((number, Problem::NoText));
    };
    let text = text.clone();
    text_record(number, text, Carried::Object(object))
}

fn decode(bytes: &[u8], encoding: Encoding) -> Option<String> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes).ok().map(str::to_string),
        Encoding::Latin1 => Some(bytes.iter().map(|&b| b as char).collect()),
    }
}

/// How many records the file holds (for progress and time left): lines, or CSV data rows.
pub fn count_records(path: &Path, format: InputFormat) -> Result<u64, InputError> {
    let read = |source| InputError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = BufReader::with_capacity(1 << 20, File::open(path).map_err(read)?);
    match format {
        InputFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
            let mut row = csv::ByteRecord::new();
            let mut n = 0;
            while reader.read_byte_record(&mut row).unwrap_or(false) {
                n += 1;
            }
            Ok(n)
        }
        _ => {
            let mut n = 0;
            for chunk in file.split(b'\n') {
                chunk.map_err(read)?;
                n += 1;
            }
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(path: &Path, format: InputFormat, column: Option<&str>, enc: Encoding) -> Vec<Item> {
        let mut r = Reader::open(path, format, column, enc).unwrap();
        std::iter::from_fn(|| r.next_item().unwrap()).collect()
    }

    #[test]
    fn text_lines_skip_and_count_what_cannot_be_scored() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("in.txt");
        std::fs::write(
            &p,
            b"profit rose\r\n\nsales \xe9 fell\nlast line without newline",
        )
        .unwrap();
        let items = all(&p, InputFormat::Text, None, Encoding::Utf8);
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].as_ref().unwrap().text, "profit rose");
        assert_eq!(items[1], Err((2, Problem::Empty)));
        assert_eq!(items[2], Err((3, Problem::NotUtf8)));
        assert_eq!(items[3].as_ref().unwrap().number, 4);
        let latin = all(&p, InputFormat::Text, None, Encoding::Latin1);
        assert_eq!(latin[2].as_ref().unwrap().text, "sales é fell");
    }

    #[test]
    fn csv_rows_carry_their_fields_and_quoted_newlines() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("in.csv");
        std::fs::write(&p, "id,date,text\n1,2024-01-02,\"profit, rose\"\n2,2024-01-03,\"two\nlines\"\n3,2024-01-04,\n4,x\n").unwrap();
        let items = all(&p, InputFormat::Csv, Some("text"), Encoding::Utf8);
        let first = items[0].as_ref().unwrap();
        assert_eq!(first.text, "profit, rose");
        assert_eq!(
            first.carried,
            Carried::Row(vec!["1".into(), "2024-01-02".into(), "profit, rose".into()])
        );
        assert_eq!(items[1].as_ref().unwrap().text, "two\nlines");
        assert_eq!(items[2], Err((3, Problem::Empty)));
        assert_eq!(items[3], Err((4, Problem::BadRow)));
        let e = Reader::open(&p, InputFormat::Csv, Some("headline"), Encoding::Utf8)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.ends_with("no column \"headline\"; its header has: id, date, text"),
            "{e}"
        );
    }

    #[test]
    fn a_reader_resumes_exactly_where_it_stood() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, body, format, column) in [
            ("in.txt", "a\nb\nc\nd\n", InputFormat::Text, None),
            (
                "in.csv",
                "id,text\n1,a\n2,\"b\nb\"\n3,c\n4,d\n",
                InputFormat::Csv,
                Some("text"),
            ),
            (
                "in.jsonl",
                "{\"t\":\"a\"}\n{\"t\":\"b\"}\nnot json\n{\"t\":\"d\"}\n",
                InputFormat::Jsonl,
                Some("t"),
            ),
        ] {
            let p = tmp.path().join(name);
            std::fs::write(&p, body).unwrap();
            let whole = all(&p, format, column, Encoding::Utf8);
            let mut r = Reader::open(&p, format, column, Encoding::Utf8).unwrap();
            r.next_item().unwrap();
            r.next_item().unwrap();
            let at = r.position();
            let mut again = Reader::open(&p, format, column, Encoding::Utf8).unwrap();
            again.seek(at).unwrap();
            let rest: Vec<Item> = std::iter::from_fn(|| again.next_item().unwrap()).collect();
            assert_eq!(rest, whole[2..], "{name}");
            assert_eq!(count_records(&p, format).unwrap(), 4, "{name}");
        }
    }
}
