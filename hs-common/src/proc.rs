//! Reading /proc/PID/stat: the process state and start time that liveness
//! checks compare against a record.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The state letter (R, S, D, Z, X, …).
    pub state: char,
    /// Start time in clock ticks after boot (field 22).
    pub start_time: u64,
}

impl ProcStat {
    /// Zombies and dead tasks count as gone: their pid can linger until a
    /// late reap, but nothing runs there.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Reads a /proc or cgroupfs file. Their size is unknown (0) to stat, so
/// std's read_to_string starts at 32 bytes and doubles, one read(2) per
/// step, and the kernel regenerates the text for every one of them; start
/// big enough for the whole file instead.
pub fn read_pseudo(path: &std::path::Path, capacity: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(capacity);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// The stat of `pid`, or None when there is no such process.
pub fn stat(pid: i32) -> Option<ProcStat> {
    if pid <= 0 {
        return None;
    }
    use std::io::Read;
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    // The kernel writes the whole line in one read when the buffer holds
    // it; read_to_string would stat first and start at 32 bytes, one
    // read(2) per doubling, each regenerating the line.
    let mut text = Vec::with_capacity(1024);
    loop {
        let start = text.len();
        text.resize(start + 1024, 0);
        let n = file.read(&mut text[start..]).ok()?;
        text.truncate(start + n);
        if n == 0 || text.ends_with(b"\n") {
            break;
        }
    }
    parse_stat(std::str::from_utf8(&text).ok()?)
}

/// Parses a /proc/PID/stat line; the command name may hold spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state come fields 4..; start time is field 22, i.e. the
    // 19th after the state.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// True when `pid` runs and started at `start_time`: not gone, not a
/// zombie, not a recycled pid.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    matches!(stat(pid), Some(s) if !s.is_dead() && s.start_time == start_time)
}

/// A process identified by pid and start time (clock ticks after boot from
/// /proc/PID/stat), so a recycled pid is never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessRef {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessRef {
    /// The process `pid` as it is now, if it exists.
    pub fn of(pid: i32) -> Option<Self> {
        stat(pid).map(|s| Self {
            pid,
            start_time: s.start_time,
        })
    }

    /// Running, not a zombie, and the same process that was recorded.
    pub fn is_alive(&self) -> bool {
        is_alive(self.pid, self.start_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_name_with_spaces_and_parens() {
        let line =
            "123 (a b) c)) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.start_time, 98765);
    }

    #[test]
    fn own_process_is_alive_with_its_start_time() {
        let me = stat(std::process::id() as i32).unwrap();
        assert!(is_alive(std::process::id() as i32, me.start_time));
        assert!(!is_alive(std::process::id() as i32, me.start_time + 1));
    }

    #[test]
    fn zombie_counts_as_dead() {
        assert!(ProcStat {
            state: 'Z',
            start_time: 1
        }
        .is_dead());
        assert!(!ProcStat {
            state: 'S',
            start_time: 1
        }
        .is_dead());
    }
}
