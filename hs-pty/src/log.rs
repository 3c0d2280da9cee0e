//! The output log: one record per line of output, in the CRI (Kubernetes)
//! log format conmon writes as `k8s-file`:
//!
//! ```text
//! 2026-01-02T03:04:05.123456789Z stdout F hello
//! 2026-01-02T03:04:05.123456789Z stderr P no newline yet
//! ```
//!
//! `TIME STREAM TAG CONTENT` and a newline: TIME is RFC 3339 in nanoseconds
//! (UTC), STREAM `stdout` or `stderr`, TAG `F` when the program's line
//! ended there (its newline is the record's own) or `P` when the line goes
//! on in a later record. CONTENT is the program's bytes as they are: it
//! cannot hold a newline, so every record is one line, and a reader that
//! takes only lines ending in a newline never sees a torn record.
//!
//! Raw content instead of the earlier JSON + base64 records: encoding every
//! chunk was the monitor's main cost on bulk output. Logs written in that
//! format (`{"t":…,"stream":…,"b64":…}` or `"line":…`) are still read.
//! This module owns the format: the monitor writes it, `hs-pty logs` (and
//! through it `hs logs`) reads it.
//!
//! With a [`Rotation`] the log is kept to a size: past `max_size` bytes
//! `LOG` becomes `LOG.1` (`LOG.1` becomes `LOG.2` …, the oldest beyond
//! `max_files` goes) and a new `LOG` starts, as docker's json-file driver
//! does with `max-size` and `max-file`. A file always holds whole records
//! (the check comes after a record is written).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

    fn parse(name: &[u8]) -> Option<Self> {
        match name {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One log record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub t: DateTime<Utc>,
    pub stream: Stream,
    payload: Payload,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Payload {
    Raw(Vec<u8>),
    /// A record of the earlier JSON format, decoded when asked for.
    Base64(String),
}

/// A record of the earlier JSON Lines format.
#[derive(Deserialize)]
struct JsonRecord {
    t: DateTime<Utc>,
    stream: Stream,
    #[serde(default)]
    b64: Option<String>,
    #[serde(default)]
    line: Option<String>,
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
    /// The output bytes this record carries (with the newline of an `F`
    /// record).
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match &self.payload {
            Payload::Raw(bytes) => Ok(bytes.clone()),
            Payload::Base64(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("bad base64: {e}")),
        }
    }

    /// Parses one line of the log (its newline may be included).
    pub fn parse(line: &[u8]) -> Result<Self, String> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.starts_with(b"{") {
            return Self::parse_json(line);
        }
        let mut fields = line.splitn(4, |&b| b == b' ');
        let (Some(time), Some(stream), Some(tag), Some(content)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err("not TIME STREAM TAG CONTENT".into());
        };
        let t = std::str::from_utf8(time)
            .ok()
            .and_then(|time| DateTime::parse_from_rfc3339(time).ok())
            .ok_or_else(|| format!("bad time {:?}", String::from_utf8_lossy(time)))?
            .with_timezone(&Utc);
        let stream = Stream::parse(stream)
            .ok_or_else(|| format!("bad stream {:?}", String::from_utf8_lossy(stream)))?;
        let mut bytes = content.to_vec();
        match tag {
            b"F" => bytes.push(b'\n'),
            b"P" => {}
            _ => return Err(format!("bad tag {:?}", String::from_utf8_lossy(tag))),
        }
        Ok(Self {
            t,
            stream,
            payload: Payload::Raw(bytes),
        })
    }

    fn parse_json(line: &[u8]) -> Result<Self, String> {
        let record: JsonRecord = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let payload = match (record.b64, record.line) {
            (Some(b64), _) => Payload::Base64(b64),
            (None, Some(line)) => Payload::Raw(line.into_bytes()),
            (None, None) => return Err("neither \"b64\" nor \"line\"".into()),
        };
        Ok(Self {
            t: record.t,
            stream: record.stream,
            payload,
        })
    }
}

/// RFC 3339 with nanoseconds, UTC (docker's `logs -t` format).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Appends `data` to `out` as records, one per line of it, all stamped
/// `stamp`.
pub fn encode(out: &mut Vec<u8>, stamp: &str, stream: Stream, data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        let (content, tag, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], b'F', &rest[i + 1..]),
            None => (rest, b'P', &rest[rest.len()..]),
        };
        out.extend_from_slice(stamp.as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream.name().as_bytes());
        out.extend_from_slice(&[b' ', tag, b' ']);
        out.extend_from_slice(content);
        out.push(b'\n');
        rest = next;
    }
}

/// How big the log may grow: `max_files` files (the current one
/// included) of about `max_size` bytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: u64,
    pub max_files: u32,
}

/// The `n`th rotated file of the log at `path` (`n` = 0: the log itself).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The files of the log at `path`, oldest first: the rotated ones there
/// are, then the log itself.
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..)
        .map(|n| rotated(path, n))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    files.push(path.to_path_buf());
    files
}

/// Appends records to the log. One `write(2)` per chunk of output, built
/// in a reused buffer: the monitor calls this for every chunk.
pub struct LogWriter {
    file: File,
    buf: Vec<u8>,
    path: PathBuf,
    /// Bytes in the current file.
    size: u64,
    rotation: Option<Rotation>,
}

impl LogWriter {
    pub fn open(path: &Path, rotation: Option<Rotation>) -> Result<Self, LogError> {
        let open_error = |source| LogError::Open {
            path: path.to_owned(),
            source,
        };
        let file = open_for_append(path).map_err(open_error)?;
        end_torn_record(&file).map_err(open_error)?;
        let size = file.metadata().map_err(open_error)?.len();
        Ok(Self {
            file,
            buf: Vec::new(),
            path: path.to_owned(),
            size,
            rotation,
        })
    }

    pub fn write(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        self.buf.clear();
        encode(&mut self.buf, &timestamp(Utc::now()), stream, data);
        let Some(rotation) = self.rotation else {
            return self.file.write_all(&self.buf);
        };
        // A chunk of output is many records (one a line): the file is
        // rotated at the record that reaches its size, not after the chunk.
        let buf = std::mem::take(&mut self.buf);
        let result = self.write_rotating(&buf, rotation);
        self.buf = buf;
        result
    }

    fn write_rotating(&mut self, records: &[u8], rotation: Rotation) -> std::io::Result<()> {
        let mut start = 0;
        let mut end = 0;
        for record in records.split_inclusive(|&b| b == b'\n') {
            end += record.len();
            if self.size + (end - start) as u64 >= rotation.max_size {
                self.file.write_all(&records[start..end])?;
                self.rotate(rotation)?;
                start = end;
            }
        }
        self.file.write_all(&records[start..end])?;
        self.size += (end - start) as u64;
        Ok(())
    }

    /// `LOG.(n-1)` onto `LOG.n` down to `LOG.1` onto `LOG.2` (the rename
    /// drops the oldest), `LOG` linked as `LOG.1`, then an empty file
    /// renamed over `LOG`: there is a `LOG` at every moment, so a reader
    /// never finds it missing. With one file the log just starts over.
    fn rotate(&mut self, rotation: Rotation) -> std::io::Result<()> {
        let ignore_missing = |result: std::io::Result<()>| match result {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        if rotation.max_files > 1 {
            for n in (2..rotation.max_files).rev() {
                let older = rotated(&self.path, n);
                ignore_missing(std::fs::rename(rotated(&self.path, n - 1), older))?;
            }
            let first = rotated(&self.path, 1);
            ignore_missing(std::fs::remove_file(&first))?;
            std::fs::hard_link(&self.path, &first)?;
        }
        let mut fresh = self.path.as_os_str().to_owned();
        fresh.push(".new");
        let fresh = PathBuf::from(fresh);
        // Empty, whatever a monitor killed between these steps left there.
        ignore_missing(std::fs::remove_file(&fresh))?;
        let file = open_for_append(&fresh)?;
        std::fs::rename(&fresh, &self.path)?;
        self.file = file;
        self.size = 0;
        Ok(())
    }
}

fn open_for_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

/// A monitor killed while writing leaves a record without its newline:
/// ending it keeps that one torn record from swallowing the first record
/// of this run (readers skip it as a line that is not a record).
fn end_torn_record(mut file: &File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8];
    file.read_exact_at(&mut last, len - 1)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
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

/// A log in a new temp dir, rotated at `max_size` bytes into
/// `max_files` files (for the tests of this module and of `logs`).
#[cfg(test)]
pub(crate) fn rotating_log(
    max_size: u64,
    max_files: u32,
) -> (tempfile::TempDir, PathBuf, LogWriter) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let rotation = Rotation {
        max_size,
        max_files,
    };
    let writer = LogWriter::open(&path, Some(rotation)).unwrap();
    (dir, path, writer)
}

/// Writes the lines `0` … `count - 1`, one record each.
#[cfg(test)]
pub(crate) fn write_numbers(writer: &mut LogWriter, count: u32) {
    for n in 0..count {
        writer
            .write(Stream::Stdout, format!("{n}\n").as_bytes())
            .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(path: &Path) -> Vec<Record> {
        std::fs::read(path)
            .unwrap()
            .split_inclusive(|&b| b == b'\n')
            .map(|l| Record::parse(l).unwrap())
            .collect()
    }

    /// The content of every record of the file at `path`, in order.
    fn contents(path: &Path) -> Vec<String> {
        read_back(path)
            .iter()
            .map(|r| String::from_utf8(r.bytes().unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn a_log_past_its_size_moves_to_dot_1_and_the_oldest_file_goes() {
        let (_dir, path, mut writer) = rotating_log(100, 3);
        // 44-byte records: a file takes three, the third one past 100.
        write_numbers(&mut writer, 10);
        assert_eq!(contents(&rotated(&path, 2)), ["3\n", "4\n", "5\n"]);
        assert_eq!(contents(&rotated(&path, 1)), ["6\n", "7\n", "8\n"]);
        assert_eq!(contents(&path), ["9\n"]);
        assert!(!rotated(&path, 3).exists());
        assert_eq!(files(&path), [rotated(&path, 2), rotated(&path, 1), path]);
    }

    #[test]
    fn a_chunk_of_many_lines_is_rotated_at_its_records() {
        let (_dir, path, mut writer) = rotating_log(100, 10);
        let chunk: String = (0..10).map(|n| format!("{n}\n")).collect();
        writer.write(Stream::Stdout, chunk.as_bytes()).unwrap();
        let all: Vec<String> = files(&path).iter().flat_map(|f| contents(f)).collect();
        assert_eq!(all.concat(), chunk);
        for file in files(&path) {
            assert!(
                std::fs::metadata(&file).unwrap().len() < 100 + 44,
                "{file:?}"
            );
        }
        assert_eq!(files(&path).len(), 4);
    }

    #[test]
    fn a_log_of_one_file_starts_over() {
        let (_dir, path, mut writer) = rotating_log(100, 1);
        write_numbers(&mut writer, 4);
        assert_eq!(contents(&path), ["3\n"]);
        assert_eq!(files(&path), [path]);
    }

    #[test]
    fn written_records_read_back_as_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut writer = LogWriter::open(&path, None).unwrap();
        writer.write(Stream::Stdout, b"hello\n\x00\xff").unwrap();
        writer.write(Stream::Stderr, b"oops").unwrap();
        let records = read_back(&path);
        let bytes: Vec<Vec<u8>> = records.iter().map(|r| r.bytes().unwrap()).collect();
        assert_eq!(
            bytes,
            vec![b"hello\n".to_vec(), b"\x00\xff".to_vec(), b"oops".to_vec()]
        );
        assert_eq!(records[2].stream, Stream::Stderr);
    }

    #[test]
    fn records_are_cri_lines_with_full_and_partial_tags() {
        let mut out = Vec::new();
        encode(&mut out, "T", Stream::Stdout, b"a\n\nb");
        assert_eq!(out, b"T stdout F a\nT stdout F \nT stdout P b\n");
    }

    #[test]
    fn a_torn_last_record_is_ended_when_the_log_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "2026-01-02T03:04:05Z stdout F to").unwrap();
        LogWriter::open(&path, None)
            .unwrap()
            .write(Stream::Stdout, b"next\n")
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let second = text.lines().nth(1).unwrap();
        assert_eq!(
            Record::parse(second.as_bytes()).unwrap().bytes().unwrap(),
            b"next\n"
        );
    }

    #[test]
    fn timestamps_carry_nanoseconds() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "2026-01-02T03:04:05.500000000Z");
    }

    #[test]
    fn json_records_of_the_earlier_format_are_read() {
        let b64 = Record::parse(br#"{"t":"2026-01-02T03:04:05Z","stream":"stderr","b64":"aGkK"}"#)
            .unwrap();
        assert_eq!(
            (b64.stream, b64.bytes().unwrap()),
            (Stream::Stderr, b"hi\n".to_vec())
        );
        let line =
            Record::parse(br#"{"t":"2026-01-02T03:04:05Z","stream":"stdout","line":"hi\n"}"#)
                .unwrap();
        assert_eq!(line.bytes().unwrap(), b"hi\n");
    }

    #[test]
    fn lines_that_are_not_records_are_rejected() {
        for bad in [
            &b"garbage"[..],
            b"2026-01-02T03:04:05Z stdin F x",
            b"2026-01-02T03:04:05Z stdout X x",
            b"yesterday stdout F x",
        ] {
            assert!(
                Record::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
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
