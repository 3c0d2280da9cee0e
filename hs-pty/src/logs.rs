//! `hs-pty logs`: print what the monitor logged, raw bytes as the program
//! wrote them (stdout to stdout, stderr to stderr), optionally the last N
//! lines, with timestamps, since a time, and following until the program's
//! exit file appears and the log is drained.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use hs_common::proc::ProcessRef;
use hs_common::Failure;

use crate::fdio;
use crate::log::{timestamp, Line, LineAssembler, LogError, Record, Stream};

pub struct LogsOptions {
    pub log: PathBuf,
    pub follow: bool,
    pub exit_file: Option<PathBuf>,
    /// The monitor that writes the log: `--follow` also ends when it is
    /// gone, since no exit file will come then (it was killed).
    pub monitor: Option<ProcessRef>,
    pub tail: Option<usize>,
    pub timestamps: bool,
    pub since: Option<DateTime<Utc>>,
}

/// `--monitor`: `PID:STARTTIME` (field 22 of /proc/PID/stat, so that a
/// reused pid does not count), or `PID` for the process that has it now (a
/// pid that is not running parses as one that is gone).
pub fn parse_monitor(text: &str) -> Result<ProcessRef, String> {
    let number = |part: &str| {
        part.parse::<u64>()
            .map_err(|_| format!("{text:?} is not PID or PID:STARTTIME"))
    };
    let (pid, start) = match text.split_once(':') {
        Some((pid, start)) => (number(pid)?, Some(number(start)?)),
        None => (number(text)?, None),
    };
    let pid = i32::try_from(pid)
        .ok()
        .filter(|&pid| pid > 0)
        .ok_or_else(|| format!("{text:?}: no such pid"))?;
    Ok(match start {
        Some(start_time) => ProcessRef { pid, start_time },
        None => ProcessRef::of(pid).unwrap_or(ProcessRef { pid, start_time: 0 }),
    })
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad --since {0:?}: expected an RFC 3339 time or a duration like 90s, 10m, 1h30m")]
pub struct BadSince(pub String);

/// `--since`: an RFC 3339 time, or a duration before `now` (`1h30m`,
/// `10m`, `45s`, `500ms`).
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, BadSince> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || BadSince(text.to_string());
    let mut total = Duration::zero();
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::try_milliseconds(value),
            "s" => Duration::try_seconds(value),
            "m" => Duration::try_minutes(value),
            "h" => Duration::try_hours(value),
            _ => None,
        }
        .ok_or_else(bad)?;
        total = total.checked_add(&part).ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    now.checked_sub_signed(total).ok_or_else(bad)
}

/// Reads complete records from the log, keeping a torn last line (the
/// monitor may be writing it) for the next call.
struct Reader {
    file: BufReader<File>,
    carry: Vec<u8>,
    path: PathBuf,
}

impl Reader {
    /// Whether the log's path still names the file this reads (a
    /// rotation renames a new one over it).
    fn is_current(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (
            self.file.get_ref().metadata(),
            std::fs::metadata(&self.path),
        ) {
            (Ok(ours), Ok(named)) => ours.ino() == named.ino() && ours.dev() == named.dev(),
            _ => true,
        }
    }

    fn open(path: &Path) -> Result<Self, LogError> {
        let file = File::open(path).map_err(|source| LogError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            file: BufReader::with_capacity(64 * 1024, file),
            carry: Vec::new(),
            path: path.to_owned(),
        })
    }

    /// Calls `each` for every record up to the current end of the file.
    /// Lines that are not records are skipped: one bad line must not make
    /// the rest of a container's output unreadable.
    fn read_available(&mut self, mut each: impl FnMut(Record, Vec<u8>)) -> Result<(), LogError> {
        loop {
            let n = self
                .file
                .read_until(b'\n', &mut self.carry)
                .map_err(|source| LogError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            if n == 0 || !self.carry.ends_with(b"\n") {
                return Ok(());
            }
            if let Ok(record) = Record::parse(&self.carry) {
                if let Ok(bytes) = record.bytes() {
                    each(record, bytes);
                }
            }
            self.carry.clear();
        }
    }
}

/// Writes output to stdout/stderr, with a timestamp at each line start.
struct Printer<O: Write, E: Write> {
    timestamps: bool,
    at_line_start: [bool; 2],
    out: O,
    err: E,
    /// The first write error; later output is dropped.
    failed: Option<std::io::Error>,
}

impl<O: Write, E: Write> Printer<O, E> {
    fn emit(&mut self, t: DateTime<Utc>, stream: Stream, bytes: &[u8]) {
        if self.failed.is_none() {
            if let Err(e) = self.print(t, stream, bytes) {
                self.failed = Some(e);
            }
        }
    }

    /// Flushes; the first error of any write since.
    fn finish(&mut self) -> Result<(), Failure> {
        let flushed = self.out.flush().and_then(|()| self.err.flush());
        match self.failed.take().map_or(flushed, Err) {
            Ok(()) => Ok(()),
            Err(e) => Err(Failure::tool(format!("writing output: {e}"))),
        }
    }

    fn print(&mut self, t: DateTime<Utc>, stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
        let (w, at_start): (&mut dyn Write, &mut bool) = match stream {
            Stream::Stdout => (&mut self.out, &mut self.at_line_start[0]),
            Stream::Stderr => (&mut self.err, &mut self.at_line_start[1]),
        };
        if !self.timestamps {
            return w.write_all(bytes);
        }
        for segment in bytes.split_inclusive(|&b| b == b'\n') {
            if *at_start {
                write!(w, "{} ", timestamp(t))?;
            }
            w.write_all(segment)?;
            *at_start = segment.ends_with(b"\n");
        }
        Ok(())
    }
}

pub fn logs(opts: &LogsOptions, out: impl Write, err: impl Write) -> Result<(), Failure> {
    // The rotated files, oldest first, then the log itself; all opened
    // before any is read. A rotated file gone meanwhile is skipped.
    let files = crate::log::files(&opts.log);
    let (current, rotated) = files.split_last().unwrap_or((&opts.log, &[]));
    let mut older = Vec::new();
    for path in rotated {
        match Reader::open(path) {
            Ok(reader) => older.push(reader),
            Err(LogError::Open { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut reader = Reader::open(current)?;
    let mut read_all = |each: &mut dyn FnMut(Record, Vec<u8>)| -> Result<(), LogError> {
        for older in &mut older {
            older.read_available(&mut *each)?;
        }
        reader.read_available(each)
    };
    let mut printer = Printer {
        timestamps: opts.timestamps,
        at_line_start: [true; 2],
        out,
        err,
        failed: None,
    };
    let wanted = |record: &Record| opts.since.is_none_or(|since| record.t >= since);

    if let Some(n) = opts.tail {
        let mut last: VecDeque<Line> = VecDeque::with_capacity(n.min(4096));
        let mut keep = |line: Line| {
            if n > 0 {
                if last.len() == n {
                    last.pop_front();
                }
                last.push_back(line);
            }
        };
        let mut assembler = LineAssembler::default();
        read_all(&mut |record, bytes| {
            if wanted(&record) {
                assembler.push(record.t, record.stream, &bytes, &mut keep);
            }
        })?;
        assembler.finish(&mut keep);
        for line in &last {
            printer.emit(line.t, line.stream, &line.bytes);
        }
    } else {
        read_all(&mut |record, bytes| {
            if wanted(&record) {
                printer.emit(record.t, record.stream, &bytes);
            }
        })?;
    }
    printer.finish()?;
    if !opts.follow {
        return Ok(());
    }

    let watcher = Watcher::new(&opts.log, opts.exit_file.as_deref());
    loop {
        // Looked at before the last read, so what was logged before the
        // end is printed.
        let exited = opts.exit_file.as_deref().is_some_and(Path::exists)
            || opts.monitor.is_some_and(|monitor| !monitor.is_alive());
        let mut print = |record: Record, bytes: Vec<u8>| {
            if wanted(&record) {
                printer.emit(record.t, record.stream, &bytes);
            }
        };
        reader.read_available(&mut print)?;
        if !reader.is_current() {
            // Rotated: the old file is complete once renamed (the monitor
            // rotates after a record); read its end, then the new one.
            reader.read_available(&mut print)?;
            reader = Reader::open(&opts.log)?;
            continue;
        }
        printer.finish()?;
        if exited {
            return Ok(());
        }
        watcher.wait();
    }
}

/// Wakes `logs --follow` when the log grows or the exit file appears
/// (inotify; a slow poll where inotify is unavailable).
struct Watcher {
    fd: Option<OwnedFd>,
}

impl Watcher {
    fn new(log: &Path, exit_file: Option<&Path>) -> Self {
        // SAFETY: inotify_init1 returns a new fd or -1.
        let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if raw < 0 {
            return Self { fd: None };
        }
        // SAFETY: raw is a new fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let watch = |path: &Path, mask: u32| {
            let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
                return;
            };
            // SAFETY: a valid fd and NUL-terminated path.
            unsafe { libc::inotify_add_watch(raw, c_path.as_ptr(), mask) };
        };
        watch(log, libc::IN_MODIFY);
        // A rotation renames a new file over the log: the watch above then
        // sees the old one. Its directory's sees both (IN_MASK_ADD: the
        // exit file's may be the same directory).
        if let Some(dir) = log.parent().filter(|d| !d.as_os_str().is_empty()) {
            watch(dir, libc::IN_MODIFY | libc::IN_MOVED_TO | libc::IN_MASK_ADD);
        }
        // The exit file is renamed into place: watch its directory.
        if let Some(dir) = exit_file.and_then(Path::parent) {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            watch(dir, libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_MASK_ADD);
        }
        Self { fd: Some(fd) }
    }

    fn wait(&self) {
        // The timeout is a safety net (a missed event), not the mechanism.
        let raw = self.fd.as_ref().map_or(-1, |fd| fd.as_raw_fd());
        let mut fds = [fdio::pollfd(raw, libc::POLLIN)];
        let _ = fdio::poll(&mut fds, if raw < 0 { 100 } else { 1000 });
        if raw >= 0 {
            let mut buf = [0u8; 4096];
            while matches!(fdio::read(raw, &mut buf), Ok(n) if n > 0) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogWriter;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn since_takes_durations_and_times() {
        assert_eq!(
            parse_since("1h30m", now()).unwrap(),
            now() - Duration::minutes(90)
        );
        assert_eq!(
            parse_since("2026-01-01T11:00:00Z", now()).unwrap(),
            now() - Duration::hours(1)
        );
        assert!(parse_since("10x", now()).is_err());
        assert!(parse_since("m", now()).is_err());
        assert!(parse_since("", now()).is_err());
    }

    fn logged(chunks: &[(Stream, &[u8])]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut writer = LogWriter::open(&path, None).unwrap();
        for (stream, bytes) in chunks {
            writer.write(*stream, bytes).unwrap();
        }
        (dir, path)
    }

    fn options(path: PathBuf) -> LogsOptions {
        LogsOptions {
            log: path,
            follow: false,
            exit_file: None,
            monitor: None,
            tail: None,
            timestamps: false,
            since: None,
        }
    }

    #[test]
    fn rotated_files_are_read_oldest_first() {
        let (_dir, path, mut writer) = crate::log::rotating_log(100, 5);
        crate::log::write_numbers(&mut writer, 10);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        logs(&options(path.clone()), &mut out, &mut err).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let tail = LogsOptions {
            tail: Some(4),
            ..options(path)
        };
        logs(&tail, &mut out, &mut err).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "6\n7\n8\n9\n");
    }

    /// Output handed over as it is written.
    struct Sent(std::sync::mpsc::Sender<Vec<u8>>);

    impl Write for Sent {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn follow_reads_on_across_a_rotation() {
        let (dir, path, mut writer) = crate::log::rotating_log(100, 2);
        let exit = dir.path().join("exit.json");
        writer.write(Stream::Stdout, b"first\n").unwrap();
        let opts = LogsOptions {
            follow: true,
            exit_file: Some(exit.clone()),
            ..options(path.clone())
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let follower = std::thread::spawn(move || logs(&opts, Sent(tx), Vec::new()));
        // Once "first" is out the follower reads the file we rotate next.
        assert_eq!(rx.recv().unwrap(), b"first\n");
        crate::log::write_numbers(&mut writer, 4);
        assert!(crate::log::rotated(&path, 1).exists());
        std::fs::write(&exit, "{}").unwrap();
        follower.join().unwrap().unwrap();
        let rest: Vec<u8> = rx.iter().flatten().collect();
        assert_eq!(String::from_utf8(rest).unwrap(), "0\n1\n2\n3\n");
    }

    #[test]
    fn output_is_printed_raw_per_stream() {
        let (_dir, path) = logged(&[(Stream::Stdout, b"a\nb"), (Stream::Stderr, b"e\n")]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        logs(&options(path), &mut out, &mut err).unwrap();
        assert_eq!(out, b"a\nb");
        assert_eq!(err, b"e\n");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let (_dir, path) = logged(&[(Stream::Stdout, b"1\n2\n3"), (Stream::Stdout, b"\n4\n")]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let opts = LogsOptions {
            tail: Some(2),
            ..options(path)
        };
        logs(&opts, &mut out, &mut err).unwrap();
        assert_eq!(out, b"3\n4\n");
    }

    #[test]
    fn timestamps_prefix_every_line() {
        let (_dir, path) = logged(&[(Stream::Stdout, b"x\ny\n")]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let opts = LogsOptions {
            timestamps: true,
            ..options(path)
        };
        logs(&opts, &mut out, &mut err).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].ends_with("Z x") && lines[1].ends_with("Z y"),
            "{text}"
        );
    }

    #[test]
    fn since_in_the_future_prints_nothing() {
        let (_dir, path) = logged(&[(Stream::Stdout, b"old\n")]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let opts = LogsOptions {
            since: Some(Utc::now() + Duration::hours(1)),
            ..options(path)
        };
        logs(&opts, &mut out, &mut err).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_record_still_being_written_is_not_printed() {
        let (_dir, path) = logged(&[(Stream::Stdout, b"whole\n")]);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"2026-01-02T03:04:05Z stdout F tor")
            .unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        logs(&options(path), &mut out, &mut err).unwrap();
        assert_eq!(out, b"whole\n");
    }

    #[test]
    fn follow_without_an_exit_file_stops_once_the_monitor_is_gone() {
        let (dir, path) = logged(&[(Stream::Stdout, b"last words\n")]);
        // This process under another start time: a pid that was reused.
        let gone = ProcessRef {
            pid: std::process::id() as i32,
            start_time: 0,
        };
        let opts = LogsOptions {
            follow: true,
            exit_file: Some(dir.path().join("exit.json")),
            monitor: Some(gone),
            ..options(path)
        };
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let result = logs(&opts, &mut out, &mut err).map(|()| out);
            let _ = done.send(result.map_err(|e| e.to_string()));
        });
        let out = finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("still following")
            .unwrap();
        assert_eq!(out, b"last words\n");
    }

    #[test]
    fn a_monitor_is_a_pid_and_start_time_or_a_running_pid() {
        assert_eq!(
            parse_monitor("123:456"),
            Ok(ProcessRef {
                pid: 123,
                start_time: 456
            })
        );
        let me = std::process::id() as i32;
        let mine = parse_monitor(&me.to_string()).unwrap();
        assert!(mine.is_alive());
        for bad in ["", "x", "1:", ":1", "0", "-5", "1:2:3"] {
            assert!(parse_monitor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn follow_stops_once_the_exit_file_exists() {
        let (dir, path) = logged(&[(Stream::Stdout, b"done\n")]);
        let exit = dir.path().join("exit.json");
        std::fs::write(&exit, "{}").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let opts = LogsOptions {
            follow: true,
            exit_file: Some(exit),
            ..options(path)
        };
        logs(&opts, &mut out, &mut err).unwrap();
        assert_eq!(out, b"done\n");
    }
}
