//! The output log: JSON Lines, one record per chunk of output as it
//! arrived, `{"t":"RFC3339 nanos","stream":"stdout"|"stderr","b64":"…"}`.
//! `"line":"…"` (plain text) is accepted in place of `"b64"` when reading.
//! This module owns the format: the monitor writes it, `hs-pty logs` (and
//! through it `hs logs`) reads it.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One log record as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub t: DateTime<Utc>,
    pub stream: Stream,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("opening the log {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the log {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad record in the log {path}: {detail}")]
    Record { path: PathBuf, detail: String },
}

impl Record {
    /// The output bytes this record carries.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.b64, &self.line) {
            (Some(b64), _) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("bad base64: {e}")),
            (None, Some(line)) => Ok(line.clone().into_bytes()),
            (None, None) => Err("neither \"b64\" nor \"line\"".into()),
        }
    }

    /// Parses one line of the log.
    pub fn parse(line: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(line).map_err(|e| e.to_string())
    }
}

/// RFC 3339 with nanoseconds, UTC (docker's `logs -t` format).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Appends records to the log. One `write(2)` per record, built in a
/// reused buffer: the monitor calls this for every chunk of output.
pub struct LogWriter {
    file: File,
    line: String,
}

impl LogWriter {
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)
            .map_err(|source| LogError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            file,
            line: String::new(),
        })
    }

    pub fn write(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        self.line.clear();
        let _ = write!(
            self.line,
            "{{\"t\":\"{}\",\"stream\":\"{}\",\"b64\":\"",
            timestamp(Utc::now()),
            stream.name()
        );
        base64::engine::general_purpose::STANDARD.encode_string(data, &mut self.line);
        self.line.push_str("\"}\n");
        self.file.write_all(self.line.as_bytes())
    }
}

impl AsFd for LogWriter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// One line of output (the last one of a stream may lack its newline),
/// stamped with the time of the record it started in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub t: DateTime<Utc>,
    pub stream: Stream,
    pub bytes: Vec<u8>,
}

/// Cuts records into lines, per stream: interleaved stdout and stderr
/// chunks never merge into one line.
#[derive(Default)]
pub struct LineAssembler {
    open: [Option<Line>; 2],
}

impl LineAssembler {
    pub fn push(
        &mut self,
        t: DateTime<Utc>,
        stream: Stream,
        bytes: &[u8],
        mut emit: impl FnMut(Line),
    ) {
        for segment in bytes.split_inclusive(|&b| b == b'\n') {
            let slot = &mut self.open[stream.index()];
            let line = slot.get_or_insert_with(|| Line {
                t,
                stream,
                bytes: Vec::new(),
            });
            line.bytes.extend_from_slice(segment);
            if segment.ends_with(b"\n") {
                if let Some(line) = slot.take() {
                    emit(line);
                }
            }
        }
    }

    /// Emits the unfinished lines, oldest first.
    pub fn finish(&mut self, mut emit: impl FnMut(Line)) {
        let mut rest: Vec<Line> = self.open.iter_mut().filter_map(Option::take).collect();
        rest.sort_by_key(|line| line.t);
        rest.into_iter().for_each(&mut emit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_records_read_back_as_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut writer = LogWriter::open(&path).unwrap();
        writer.write(Stream::Stdout, b"hello\n\x00\xff").unwrap();
        writer.write(Stream::Stderr, b"oops").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let records: Vec<Record> = text
            .lines()
            .map(|l| Record::parse(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].bytes().unwrap(), b"hello\n\x00\xff");
        assert_eq!(records[1].stream, Stream::Stderr);
        assert!(text.contains("\"stream\":\"stdout\""));
    }

    #[test]
    fn timestamps_carry_nanoseconds() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "2026-01-02T03:04:05.500000000Z");
    }

    #[test]
    fn plain_line_records_are_accepted() {
        let record =
            Record::parse(br#"{"t":"2026-01-02T03:04:05Z","stream":"stdout","line":"hi\n"}"#)
                .unwrap();
        assert_eq!(record.bytes().unwrap(), b"hi\n");
    }

    #[test]
    fn lines_are_assembled_per_stream() {
        let t = Utc::now();
        let mut assembler = LineAssembler::default();
        let mut lines = Vec::new();
        assembler.push(t, Stream::Stdout, b"ab", |l| lines.push(l));
        assembler.push(t, Stream::Stderr, b"err\n", |l| lines.push(l));
        assembler.push(t, Stream::Stdout, b"c\nd", |l| lines.push(l));
        assembler.finish(|l| lines.push(l));
        let texts: Vec<&[u8]> = lines.iter().map(|l| l.bytes.as_slice()).collect();
        assert_eq!(texts, vec![&b"err\n"[..], b"abc\n", b"d"]);
    }
}
