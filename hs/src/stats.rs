//! `hs stats`: resource usage of containers, from `hs-cgroup stats`.

use crate::error::Outcome;
use serde_json::Value;

use crate::chain::{short_id, Tools};
use crate::cli::StatsArgs;
use crate::commands::{resolve, store};
use crate::lifecycle::is_running;
use crate::tools;

pub fn stats(args: StatsArgs) -> Outcome {
    let store = store()?;
    let tools = Tools::find()?;
    let records = if args.containers.is_empty() {
        store
            .list()
            .into_iter()
            .flatten()
            .filter(is_running)
            .collect()
    } else {
        args.containers
            .iter()
            .map(|r| resolve(&store, r))
            .collect::<Result<Vec<_>, _>>()?
    };
    loop {
        let mut rows = Vec::new();
        for record in &records {
            let mut argv = vec![tools.cgroup.clone(), "stats".into()];
            argv.extend(tools::path_flags(record.state.cgroups.values()));
            let sample: Value = if record.state.cgroups.is_empty() || !is_running(record) {
                Value::Null
            } else {
                tools::output(&argv)
                    .ok()
                    .and_then(|out| serde_json::from_slice(&out).ok())
                    .unwrap_or(Value::Null)
            };
            rows.push((record, sample));
        }
        let mut text = String::new();
        if args.json {
            for (record, sample) in &rows {
                let line =
                    serde_json::json!({"ID": record.id, "Name": record.name, "Stats": sample});
                text.push_str(&format!("{line}\n"));
            }
        } else {
            text.push_str("CONTAINER ID   NAME                 MEM USAGE / LIMIT       PIDS\n");
            for (record, sample) in &rows {
                text.push_str(&format!(
                    "{:<14} {:<20} {:<23} {}\n",
                    short_id(&record.id),
                    record.name,
                    memory_text(sample),
                    sample["pids"]["current"]
                        .as_u64()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "--".into())
                ));
            }
        }
        if !args.no_stream && !args.json {
            print!("\x1b[2J\x1b[H");
        }
        print!("{text}");
        if args.no_stream {
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

fn memory_text(sample: &Value) -> String {
    let usage = sample["memory"]["usage"].as_u64();
    let limit = sample["memory"]["limit"].as_u64();
    match (usage, limit) {
        (Some(u), Some(l)) => format!("{} / {}", bytes(u), bytes(l)),
        (Some(u), None) => bytes(u),
        _ => "--".into(),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{value:.2}{}", UNITS[unit])
    }
}
