//! `hs run`'s resource flags turned into the record's `Limits`, with
//! hs-cgroup's own parsers, so a value hs accepts is one hs-cgroup accepts.

use hs_state::schema::Limits;

use crate::cli::RunArgs;
use crate::error::{HsError, Result};

pub fn from_args(args: &RunArgs) -> Result<Limits> {
    let bad = |flag: &'static str, value: &str, why: String| HsError::BadValue {
        flag,
        value: value.to_string(),
        why,
    };
    let mut limits = Limits::default();
    if let Some(v) = &args.memory {
        limits.memory = Some(parse_size(v).map_err(|why| bad("--memory", v, why))?);
    }
    if let Some(v) = &args.memory_swap {
        limits.memory_swap = Some(if v == "-1" {
            -1
        } else {
            parse_size(v).map_err(|why| bad("--memory-swap", v, why))? as i64
        });
    }
    if let Some(v) = &args.cpus {
        let cpus: f64 = v
            .parse()
            .ok()
            .filter(|c: &f64| c.is_finite() && *c > 0.0)
            .ok_or_else(|| bad("--cpus", v, "expected a positive number".into()))?;
        limits.cpus = Some(cpus);
    }
    if let Some(v) = &args.cpu_shares {
        limits.cpu_shares = Some(
            v.parse()
                .ok()
                .filter(|n| *n >= 2)
                .ok_or_else(|| bad("--cpu-shares", v, "expected a number >= 2".into()))?,
        );
    }
    if let Some(v) = &args.cpuset_cpus {
        check_list(v).map_err(|why| bad("--cpuset-cpus", v, why))?;
        limits.cpuset_cpus = Some(v.clone());
    }
    if let Some(v) = &args.cpuset_mems {
        check_list(v).map_err(|why| bad("--cpuset-mems", v, why))?;
        limits.cpuset_mems = Some(v.clone());
    }
    if let Some(v) = &args.pids_limit {
        limits.pids_limit = Some(
            v.parse()
                .ok()
                .filter(|n: &i64| *n > 0 || *n == -1)
                .ok_or_else(|| bad("--pids-limit", v, "expected a positive number or -1".into()))?,
        );
    }
    Ok(limits)
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| "expected a size like 200M".to_string())?;
    let factor: u64 = match unit.to_ascii_lowercase().trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("unknown unit {unit:?} (expected b, k, m, g or t)")),
    };
    number
        .checked_mul(factor)
        .filter(|n| *n > 0)
        .ok_or_else(|| "size out of range".to_string())
}

fn check_list(text: &str) -> Result<(), String> {
    let ok = text.split(',').all(|part| match part.split_once('-') {
        Some((a, b)) => matches!((a.parse::<u32>(), b.parse::<u32>()), (Ok(a), Ok(b)) if a <= b),
        None => part.parse::<u32>().is_ok(),
    });
    if ok {
        Ok(())
    } else {
        Err("expected a list like 0-1,3".into())
    }
}
