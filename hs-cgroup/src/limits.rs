//! Resource limits with docker's flags and units, validated before anything
//! is created: `hs` calls [`Limits::parse`] with the same strings so a bad
//! `-m 12Q` fails there exactly as it fails here.
//!
//! The parsers are pure; the online CPU and memory-node lists they check
//! against are read once by [`Online::read`] and passed in.

use std::collections::BTreeSet;

/// Docker's smallest memory limit: below it a container cannot even start.
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;
/// The CFS period every `--cpus` quota is expressed in (docker's choice).
pub const CPU_PERIOD_US: u64 = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {flag} {value:?}: {why}")]
pub struct LimitError {
    pub flag: &'static str,
    pub value: String,
    pub why: String,
}

fn bad(flag: &'static str, value: &str, why: impl Into<String>) -> LimitError {
    LimitError {
        flag,
        value: value.to_string(),
        why: why.into(),
    }
}

/// The flags as given on a command line (docker's spelling and units).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitArgs {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub cpus: Option<String>,
    pub cpu_shares: Option<String>,
    pub cpu_weight: Option<String>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<String>,
}

/// How much swap a container may use on top of its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// `--memory-swap -1`.
    Unlimited,
    /// memory + swap, in bytes (docker's `--memory-swap`).
    Total(u64),
}

/// Validated limits in kernel units. `None` leaves the kernel's value alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Bytes.
    pub memory: Option<u64>,
    /// Memory + swap. When only `--memory` is given this is docker's
    /// default: as much swap as memory.
    pub swap: Option<Swap>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub cpu_weight: Option<u64>,
    /// Normalised list, e.g. `0-1`.
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// `None` inside means unlimited (`-1` or `0`, as docker takes both).
    pub pids_limit: Option<Option<u64>>,
}

/// The CPUs and memory nodes the machine has online, to check `--cpus`
/// and cpuset lists against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Online {
    pub cpus: BTreeSet<u32>,
    pub mems: BTreeSet<u32>,
}

impl Online {
    /// From /sys/devices/system/{cpu,node}/online; a kernel without NUMA
    /// has no node directory and exactly node 0.
    pub fn read() -> Result<Self, LimitError> {
        Ok(Self {
            cpus: Self::cpus()?,
            mems: Self::mems()?,
        })
    }

    fn cpus() -> Result<BTreeSet<u32>, LimitError> {
        let cpus = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .map_err(|e| bad("--cpus", "", format!("reading the online CPUs: {e}")))?;
        parse_list(cpus.trim()).map_err(|why| bad("--cpus", cpus.trim(), why))
    }

    fn mems() -> Result<BTreeSet<u32>, LimitError> {
        let mems = std::fs::read_to_string("/sys/devices/system/node/online")
            .unwrap_or_else(|_| "0".to_string());
        parse_list(mems.trim()).map_err(|why| bad("--cpuset-mems", mems.trim(), why))
    }
}

impl Limits {
    /// Validates every flag against this machine's online CPUs and nodes
    /// (each list read only when a flag needs it: `--cpus` alone reads no
    /// node list).
    pub fn from_args(args: &LimitArgs) -> Result<Self, LimitError> {
        let online = Online {
            cpus: if args.cpus.is_some() || args.cpuset_cpus.is_some() {
                Online::cpus()?
            } else {
                BTreeSet::new()
            },
            mems: if args.cpuset_mems.is_some() {
                Online::mems()?
            } else {
                BTreeSet::new()
            },
        };
        Self::parse(args, &online)
    }

    /// Validates every flag; the first bad one is the error.
    pub fn parse(args: &LimitArgs, online: &Online) -> Result<Self, LimitError> {
        let memory = args
            .memory
            .as_deref()
            .map(|v| {
                let bytes = parse_size("--memory", v)?;
                if bytes < MIN_MEMORY {
                    return Err(bad("--memory", v, "the minimum memory limit is 6M"));
                }
                Ok(bytes)
            })
            .transpose()?;
        let swap = match (&args.memory_swap, memory) {
            (Some(v), None) => {
                return Err(bad(
                    "--memory-swap",
                    v,
                    "it needs --memory as well (it is memory plus swap)",
                ))
            }
            (Some(v), Some(mem)) => Some(parse_swap(v, mem)?),
            (None, Some(mem)) => Some(Swap::Total(mem.saturating_mul(2))),
            (None, None) => None,
        };
        let cpu_shares = args
            .cpu_shares
            .as_deref()
            .map(|v| parse_in_range("--cpu-shares", v, 2, 262_144))
            .transpose()?;
        let cpu_weight = args
            .cpu_weight
            .as_deref()
            .map(|v| parse_in_range("--cpu-weight", v, 1, 10_000))
            .transpose()?;
        if let (Some(_), Some(v)) = (cpu_shares, &args.cpu_weight) {
            return Err(bad(
                "--cpu-weight",
                v,
                "give either --cpu-shares or --cpu-weight, not both",
            ));
        }
        Ok(Self {
            memory,
            swap,
            cpus: args
                .cpus
                .as_deref()
                .map(|v| parse_cpus(v, online.cpus.len()))
                .transpose()?,
            cpu_shares,
            cpu_weight,
            cpuset_cpus: args
                .cpuset_cpus
                .as_deref()
                .map(|v| parse_cpuset("--cpuset-cpus", v, &online.cpus))
                .transpose()?,
            cpuset_mems: args
                .cpuset_mems
                .as_deref()
                .map(|v| parse_cpuset("--cpuset-mems", v, &online.mems))
                .transpose()?,
            pids_limit: args
                .pids_limit
                .as_deref()
                .map(parse_pids_limit)
                .transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `--cpus` as a CFS quota in microseconds per [`CPU_PERIOD_US`].
    pub fn cpu_quota_us(&self) -> Option<u64> {
        self.cpus
            .map(|cpus| ((cpus * CPU_PERIOD_US as f64).round() as u64).max(1000))
    }

    /// v1's `cpu.shares`, from `--cpu-shares` or converted from `--cpu-weight`.
    pub fn shares(&self) -> Option<u64> {
        self.cpu_shares
            .or_else(|| self.cpu_weight.map(weight_to_shares))
    }

    /// v2's `cpu.weight`, from `--cpu-weight` or converted from `--cpu-shares`.
    pub fn weight(&self) -> Option<u64> {
        self.cpu_weight
            .or_else(|| self.cpu_shares.map(shares_to_weight))
    }
}

/// The runc/crun mapping of shares [2, 262144] onto weight [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// The inverse of [`shares_to_weight`].
pub fn weight_to_shares(weight: u64) -> u64 {
    2 + (weight.clamp(1, 10_000) - 1) * 262_142 / 9999
}

/// A size in docker's units: a number with an optional `b`, `k`, `m` or `g`
/// suffix (case-insensitive, binary multiples; `kb`, `mib` spellings too).
pub fn parse_size(flag: &'static str, value: &str) -> Result<u64, LimitError> {
    let text = value.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(bad(flag, value, "expected a size like 200M"));
    }
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(bad(
                flag,
                value,
                "unknown unit (use b, k, m or g, e.g. 200M)",
            ))
        }
    };
    let number: f64 = number
        .parse()
        .map_err(|_| bad(flag, value, "expected a size like 200M"))?;
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad(flag, value, "too large"));
    }
    Ok(bytes as u64)
}

fn parse_swap(value: &str, memory: u64) -> Result<Swap, LimitError> {
    if value.trim() == "-1" {
        return Ok(Swap::Unlimited);
    }
    let total = parse_size("--memory-swap", value)?;
    if total < memory {
        return Err(bad(
            "--memory-swap",
            value,
            "it is memory plus swap, so it must not be below --memory",
        ));
    }
    Ok(Swap::Total(total))
}

/// `--cpus`: a positive decimal no larger than the number of online CPUs.
pub fn parse_cpus(value: &str, online: usize) -> Result<f64, LimitError> {
    let cpus: f64 = value
        .trim()
        .parse()
        .map_err(|_| bad("--cpus", value, "expected a number of CPUs like 0.5"))?;
    if !cpus.is_finite() || cpus <= 0.0 {
        return Err(bad("--cpus", value, "must be greater than 0"));
    }
    if cpus > online as f64 {
        return Err(bad(
            "--cpus",
            value,
            format!("this machine has only {online} CPUs online"),
        ));
    }
    if cpus * (CPU_PERIOD_US as f64) < 1000.0 {
        return Err(bad("--cpus", value, "must be at least 0.01"));
    }
    Ok(cpus)
}

fn parse_in_range(flag: &'static str, value: &str, min: u64, max: u64) -> Result<u64, LimitError> {
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| bad(flag, value, "expected a whole number"))?;
    if !(min..=max).contains(&n) {
        return Err(bad(flag, value, format!("must be between {min} and {max}")));
    }
    Ok(n)
}

/// `--pids-limit`: a positive count, or `-1`/`0` for unlimited (docker).
pub fn parse_pids_limit(value: &str) -> Result<Option<u64>, LimitError> {
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| bad("--pids-limit", value, "expected a whole number, or -1"))?;
    match n {
        -1 | 0 => Ok(None),
        n if n > 0 => Ok(Some(n as u64)),
        _ => Err(bad(
            "--pids-limit",
            value,
            "must be positive, or -1 for unlimited",
        )),
    }
}

/// A cpuset list (`0-1,3`) whose members are all in `online`; returned in
/// the kernel's normalised form.
pub fn parse_cpuset(
    flag: &'static str,
    value: &str,
    online: &BTreeSet<u32>,
) -> Result<String, LimitError> {
    let set = parse_list(value.trim()).map_err(|why| bad(flag, value, why))?;
    if set.is_empty() {
        return Err(bad(flag, value, "the list is empty"));
    }
    if let Some(missing) = set.iter().find(|n| !online.contains(n)) {
        return Err(bad(
            flag,
            value,
            format!("{missing} is not online (online: {})", format_list(online)),
        ));
    }
    Ok(format_list(&set))
}

/// Parses the kernel's list format: `0-3,5,7-8`.
pub fn parse_list(text: &str) -> Result<BTreeSet<u32>, String> {
    let mut set = BTreeSet::new();
    if text.is_empty() {
        return Ok(set);
    }
    for part in text.split(',') {
        let part = part.trim();
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("{part:?} is not a number or range like 0-3"))
        };
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (number(lo)?, number(hi)?);
                if lo > hi {
                    return Err(format!("range {part:?} runs backwards"));
                }
                if hi - lo > 65_536 {
                    return Err(format!("range {part:?} is too large"));
                }
                set.extend(lo..=hi);
            }
            None => {
                set.insert(number(part)?);
            }
        }
    }
    Ok(set)
}

/// The kernel's list format for `set`: consecutive runs as ranges.
pub fn format_list(set: &BTreeSet<u32>) -> String {
    let mut parts = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online(cpus: &str) -> Online {
        Online {
            cpus: parse_list(cpus).unwrap(),
            mems: parse_list("0").unwrap(),
        }
    }

    fn args() -> LimitArgs {
        LimitArgs::default()
    }

    #[test]
    fn sizes_take_docker_units_in_any_case() {
        assert_eq!(parse_size("-m", "200M").unwrap(), 200 << 20);
        assert_eq!(parse_size("-m", "200m").unwrap(), 200 << 20);
        assert_eq!(parse_size("-m", "1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("-m", "64k").unwrap(), 64 << 10);
        assert_eq!(parse_size("-m", "4096b").unwrap(), 4096);
        assert_eq!(parse_size("-m", "4096").unwrap(), 4096);
        assert_eq!(parse_size("-m", "1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("-m", "10MB").unwrap(), 10 << 20);
    }

    #[test]
    fn sizes_with_unknown_units_or_no_number_are_refused() {
        for bad in ["12Q", "", "M", "-5M", "1e9", "abc", "1.2.3m"] {
            assert!(parse_size("--memory", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn size_error_names_the_flag_and_value() {
        let err = parse_size("--memory", "12Q").unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad --memory \"12Q\": unknown unit (use b, k, m or g, e.g. 200M)"
        );
    }

    #[test]
    fn memory_below_six_megabytes_is_refused() {
        let a = LimitArgs {
            memory: Some("4M".into()),
            ..args()
        };
        assert!(Limits::parse(&a, &online("0-1")).is_err());
    }

    #[test]
    fn memory_alone_gets_as_much_swap_as_memory() {
        let a = LimitArgs {
            memory: Some("32M".into()),
            ..args()
        };
        let limits = Limits::parse(&a, &online("0-1")).unwrap();
        assert_eq!(limits.memory, Some(32 << 20));
        assert_eq!(limits.swap, Some(Swap::Total(64 << 20)));
    }

    #[test]
    fn memory_swap_minus_one_is_unlimited_and_below_memory_is_refused() {
        let mut a = LimitArgs {
            memory: Some("32M".into()),
            memory_swap: Some("-1".into()),
            ..args()
        };
        assert_eq!(
            Limits::parse(&a, &online("0")).unwrap().swap,
            Some(Swap::Unlimited)
        );
        a.memory_swap = Some("16M".into());
        assert!(Limits::parse(&a, &online("0")).is_err());
        a.memory_swap = Some("12Q".into());
        assert!(Limits::parse(&a, &online("0")).is_err());
    }

    #[test]
    fn memory_swap_without_memory_is_refused() {
        let a = LimitArgs {
            memory_swap: Some("1G".into()),
            ..args()
        };
        assert!(Limits::parse(&a, &online("0")).is_err());
    }

    #[test]
    fn cpus_must_be_positive_and_within_the_online_count() {
        assert_eq!(parse_cpus("0.5", 2).unwrap(), 0.5);
        assert_eq!(parse_cpus("2", 2).unwrap(), 2.0);
        for bad in ["0", "-1", "2.5", "3", "abc", "", "nan", "inf", "0.001"] {
            assert!(parse_cpus(bad, 2).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cpus_become_a_quota_per_100ms_period() {
        let a = LimitArgs {
            cpus: Some("0.2".into()),
            ..args()
        };
        assert_eq!(
            Limits::parse(&a, &online("0-1")).unwrap().cpu_quota_us(),
            Some(20_000)
        );
    }

    #[test]
    fn cpuset_lists_are_normalised_and_checked_against_online() {
        let cpus = parse_list("0-3").unwrap();
        assert_eq!(
            parse_cpuset("--cpuset-cpus", "0,1,2", &cpus).unwrap(),
            "0-2"
        );
        assert_eq!(parse_cpuset("--cpuset-cpus", "3,0", &cpus).unwrap(), "0,3");
        for bad in ["4", "0-4", "a", "3-1", "", "1,,2", "-1"] {
            assert!(
                parse_cpuset("--cpuset-cpus", bad, &cpus).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn list_format_round_trips() {
        let set = parse_list("0-2,5,7-8").unwrap();
        assert_eq!(set.len(), 6);
        assert_eq!(format_list(&set), "0-2,5,7-8");
    }

    #[test]
    fn pids_limit_takes_positive_counts_and_minus_one() {
        assert_eq!(parse_pids_limit("20").unwrap(), Some(20));
        assert_eq!(parse_pids_limit("-1").unwrap(), None);
        assert_eq!(parse_pids_limit("0").unwrap(), None);
        for bad in ["-2", "x", "1.5", ""] {
            assert!(parse_pids_limit(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn shares_and_weight_convert_both_ways_and_exclude_each_other() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
        assert_eq!(shares_to_weight(1024), 39);
        let a = LimitArgs {
            cpu_shares: Some("512".into()),
            cpu_weight: Some("100".into()),
            ..args()
        };
        assert!(Limits::parse(&a, &online("0")).is_err());
        let a = LimitArgs {
            cpu_shares: Some("1".into()),
            ..args()
        };
        assert!(Limits::parse(&a, &online("0")).is_err());
        let a = LimitArgs {
            cpu_weight: Some("10001".into()),
            ..args()
        };
        assert!(Limits::parse(&a, &online("0")).is_err());
    }

    #[test]
    fn no_flags_mean_no_limits() {
        assert!(Limits::parse(&args(), &online("0")).unwrap().is_empty());
    }
}
