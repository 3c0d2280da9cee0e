//! `hs ps`: docker's columns, human durations and status words, JSON
//! Lines, and `--format` templates with docker's placeholders.

use chrono::{DateTime, Utc};
use hs_state::schema::{Rootfs, Status};
use hs_state::Record;
use serde::Serialize;

use crate::chain::short_id;

/// One container as `ps` shows it, with its live status.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub created: DateTime<Utc>,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub pid: Option<i32>,
    pub monitor_pid: Option<i32>,
}

impl Row {
    pub fn from_record(record: &Record) -> Self {
        let status = record.live_status();
        let running = status == Status::Running;
        Self {
            id: record.id.clone(),
            name: record.name.clone(),
            image: image_name(&record.config.rootfs),
            command: record.config.command.clone(),
            created: record.config.created,
            status,
            exit_code: record.state.exit_code,
            started: record.state.started,
            finished: record.state.finished,
            pid: record.state.init.filter(|_| running).map(|p| p.pid),
            monitor_pid: record.state.monitor.filter(|m| m.is_alive()).map(|p| p.pid),
        }
    }
}

/// The IMAGE column: `host` for a host mirror.
pub fn image_name(rootfs: &Rootfs) -> String {
    match rootfs {
        Rootfs::Host { .. } => "host".into(),
        Rootfs::Dir { path } => path.clone(),
        Rootfs::Image { reference, .. } => reference.clone(),
    }
}

/// docker's `units.HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = (seconds as f64 / 3600.0 + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

fn since(then: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - then).num_seconds()
}

/// STATUS: `Up 3 minutes`, `Exited (0) 2 seconds ago`, `Created`.
pub fn status_text(row: &Row, now: DateTime<Utc>) -> String {
    match row.status {
        Status::Created => "Created".into(),
        Status::Running => {
            let start = row.started.unwrap_or(row.created);
            format!("Up {}", human_duration(since(start, now)))
        }
        Status::Exited => {
            let code = row
                .exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "unknown".into());
            match row.finished {
                Some(at) => format!("Exited ({code}) {} ago", human_duration(since(at, now))),
                None => format!("Exited ({code})"),
            }
        }
    }
}

/// docker's `State` word.
pub fn state_word(status: Status) -> &'static str {
    match status {
        Status::Created => "created",
        Status::Running => "running",
        Status::Exited => "exited",
    }
}

/// COMMAND: the argv joined, in quotes, cut to 20 characters with `…`.
pub fn command_text(command: &[String], no_trunc: bool) -> String {
    let joined = command.join(" ");
    let shown = if !no_trunc && joined.chars().count() > 20 {
        let cut: String = joined.chars().take(19).collect();
        format!("{cut}…")
    } else {
        joined
    };
    format!("\"{shown}\"")
}

fn shown_id(id: &str, no_trunc: bool) -> &str {
    if no_trunc {
        id
    } else {
        short_id(id)
    }
}

/// A value for one docker placeholder, or None for an unknown one.
fn field(row: &Row, name: &str, now: DateTime<Utc>, no_trunc: bool) -> Option<String> {
    Some(match name {
        "ID" => shown_id(&row.id, no_trunc).to_string(),
        "Names" => row.name.clone(),
        "Image" => row.image.clone(),
        "Command" => command_text(&row.command, no_trunc),
        "CreatedAt" => row.created.format("%Y-%m-%d %H:%M:%S %z UTC").to_string(),
        "RunningFor" => format!("{} ago", human_duration(since(row.created, now))),
        "Status" => status_text(row, now),
        "State" => state_word(row.status).to_string(),
        "Pid" => row.pid.map(|p| p.to_string()).unwrap_or_default(),
        "MonitorPid" => row.monitor_pid.map(|p| p.to_string()).unwrap_or_default(),
        "ExitCode" => row.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        "Ports" | "Mounts" | "Networks" | "Labels" => String::new(),
        _ => return None,
    })
}

/// The column headers docker prints for each placeholder in a `table`
/// template.
fn header(name: &str) -> String {
    match name {
        "ID" => "CONTAINER ID".into(),
        "Names" => "NAMES".into(),
        "RunningFor" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "MonitorPid" => "MONITOR PID".into(),
        "ExitCode" => "EXIT CODE".into(),
        other => other.to_uppercase(),
    }
}

/// A `--format` template: docker's `{{.Field}}` placeholders, `\t` and
/// `\n` escapes, and a `table ` prefix for aligned columns with headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    table: bool,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(String),
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (true, rest.trim_start())
            }
            _ => (false, text),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find("}}")
                .ok_or_else(|| format!("unclosed {{{{ in template {text:?}"))?;
            let inner = rest[open + 2..open + close].trim();
            let name = inner
                .strip_prefix('.')
                .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric()))
                .ok_or_else(|| format!("unsupported template action {{{{{inner}}}}}"))?;
            parts.push(Part::Field(name.to_string()));
            rest = &rest[open + close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self { table, parts })
    }

    /// Checks every placeholder names a field, before anything is printed.
    pub fn check(&self) -> Result<(), String> {
        let sample = Row {
            id: String::new(),
            name: String::new(),
            image: String::new(),
            command: Vec::new(),
            created: Utc::now(),
            status: Status::Created,
            exit_code: None,
            started: None,
            finished: None,
            pid: None,
            monitor_pid: None,
        };
        for part in &self.parts {
            if let Part::Field(name) = part {
                if field(&sample, name, Utc::now(), false).is_none() {
                    return Err(format!("template: unknown field .{name}"));
                }
            }
        }
        Ok(())
    }

    fn render_row(&self, row: &Row, now: DateTime<Utc>, no_trunc: bool) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.clone(),
                Part::Field(name) => field(row, name, now, no_trunc).unwrap_or_default(),
            })
            .collect()
    }

    fn header_row(&self) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.clone(),
                Part::Field(name) => header(name),
            })
            .collect()
    }

    /// Every row, one a line (aligned with a header for `table`).
    pub fn render(&self, rows: &[Row], now: DateTime<Utc>, no_trunc: bool) -> String {
        let mut lines: Vec<String> = rows
            .iter()
            .map(|row| self.render_row(row, now, no_trunc))
            .collect();
        if self.table {
            lines.insert(0, self.header_row());
            return align_tabs(&lines);
        }
        let mut out = lines.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// The default table (docker's columns, without PORTS: hs has no network).
pub fn default_template() -> Template {
    Template::parse(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
    )
    .unwrap_or(Template {
        table: true,
        parts: Vec::new(),
    })
}

/// Aligns tab-separated cells into columns three spaces apart (docker's
/// tabwriter settings).
pub fn align_tabs(lines: &[String]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            cells
                .iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c] - cell.chars().count() + 3;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `--format json`: docker's keys plus the pids and the full id.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JsonRow {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "FullID")]
    pub full_id: String,
    pub names: String,
    pub image: String,
    pub command: String,
    pub created_at: String,
    pub running_for: String,
    pub status: String,
    pub state: String,
    pub exit_code: Option<i32>,
    pub pid: Option<i32>,
    pub monitor_pid: Option<i32>,
}

impl JsonRow {
    pub fn new(row: &Row, now: DateTime<Utc>, no_trunc: bool) -> Self {
        let get = |name: &str| field(row, name, now, no_trunc).unwrap_or_default();
        Self {
            id: get("ID"),
            full_id: row.id.clone(),
            names: get("Names"),
            image: get("Image"),
            command: get("Command"),
            created_at: get("CreatedAt"),
            running_for: get("RunningFor"),
            status: get("Status"),
            state: get("State"),
            exit_code: row.exit_code,
            pid: row.pid,
            monitor_pid: row.monitor_pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn row(status: Status) -> Row {
        let now = Utc::now();
        Row {
            id: "0123456789abcdef".repeat(4),
            name: "web".into(),
            image: "host".into(),
            command: vec!["sleep".into(), "1000".into()],
            created: now - Duration::minutes(5),
            status,
            exit_code: Some(0),
            started: Some(now - Duration::minutes(3)),
            finished: Some(now - Duration::seconds(2)),
            pid: Some(42),
            monitor_pid: Some(41),
        }
    }

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(2), "2 seconds");
        assert_eq!(human_duration(61), "About a minute");
        assert_eq!(human_duration(180), "3 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn running_is_up_since_start() {
        let r = row(Status::Running);
        assert_eq!(status_text(&r, Utc::now()), "Up 3 minutes");
    }

    #[test]
    fn exited_shows_code_and_age() {
        let r = row(Status::Exited);
        assert_eq!(status_text(&r, Utc::now()), "Exited (0) 2 seconds ago");
    }

    #[test]
    fn unknown_exit_code_says_so() {
        let mut r = row(Status::Exited);
        r.exit_code = None;
        r.finished = None;
        assert_eq!(status_text(&r, Utc::now()), "Exited (unknown)");
    }

    #[test]
    fn long_commands_are_cut_with_an_ellipsis() {
        let long = vec![
            "sh".into(),
            "-c".into(),
            "while true; do sleep 1; done".into(),
        ];
        assert_eq!(command_text(&long, false), "\"sh -c while true; d…\"");
        assert_eq!(
            command_text(&long, true),
            "\"sh -c while true; do sleep 1; done\""
        );
    }

    #[test]
    fn default_table_has_dockers_headers_aligned() {
        let text = default_template().render(&[row(Status::Running)], Utc::now(), false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("CONTAINER ID   IMAGE   COMMAND"));
        assert!(lines[0].ends_with("NAMES"));
        assert!(lines[1].starts_with("0123456789ab   host    \"sleep 1000\""));
        assert!(lines[1].contains("5 minutes ago"));
        assert!(lines[1].contains("Up 3 minutes"));
    }

    #[test]
    fn templates_fill_placeholders_and_escapes() {
        let t = Template::parse("{{.ID}}\\t{{ .Names }} {{.Pid}} {{.State}}").unwrap();
        let text = t.render(&[row(Status::Running)], Utc::now(), true);
        assert_eq!(
            text,
            format!("{}\tweb 42 running\n", "0123456789abcdef".repeat(4))
        );
    }

    #[test]
    fn unknown_placeholders_are_refused() {
        let t = Template::parse("{{.Nope}}").unwrap();
        assert!(t.check().is_err());
        assert!(Template::parse("{{.ID").is_err());
        assert!(Template::parse("{{json .}}").is_err());
    }

    #[test]
    fn json_rows_carry_pids_and_full_id() {
        let r = row(Status::Running);
        let value = serde_json::to_value(JsonRow::new(&r, Utc::now(), false)).unwrap();
        assert_eq!(value["ID"], "0123456789ab");
        assert_eq!(value["FullID"], r.id);
        assert_eq!(value["Pid"], 42);
        assert_eq!(value["MonitorPid"], 41);
        assert_eq!(value["State"], "running");
    }
}
