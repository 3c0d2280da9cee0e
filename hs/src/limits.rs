//! `hs run`'s resource flags turned into the record's `Limits` with
//! hs-cgroup's own parsers, so a value hs accepts is one hs-cgroup accepts,
//! and a bad one fails before anything is created.

use hs_cgroup::limits::{LimitArgs, Online, Swap};
use hs_state::schema::Limits;

use crate::cli::RunArgs;
use crate::error::{HsError, Result};

fn limit_error(e: hs_cgroup::limits::LimitError) -> HsError {
    HsError::BadValue {
        flag: e.flag,
        value: e.value,
        why: e.why,
    }
}

pub fn from_args(args: &RunArgs) -> Result<Limits> {
    let given = LimitArgs {
        memory: args.memory.clone(),
        memory_swap: args.memory_swap.clone(),
        cpus: args.cpus.clone(),
        cpu_shares: args.cpu_shares.clone(),
        cpu_weight: None,
        cpuset_cpus: args.cpuset_cpus.clone(),
        cpuset_mems: args.cpuset_mems.clone(),
        pids_limit: args.pids_limit.clone(),
    };
    if given == LimitArgs::default() {
        return Ok(Limits::default());
    }
    let online = Online::read().map_err(limit_error)?;
    let parsed = hs_cgroup::limits::Limits::parse(&given, &online).map_err(limit_error)?;
    Ok(Limits {
        memory: parsed.memory,
        // Only what was asked: hs-cgroup applies docker's default swap
        // itself when the chain passes --memory alone.
        memory_swap: args.memory_swap.as_ref().and(parsed.swap).map(|s| match s {
            Swap::Unlimited => -1,
            Swap::Total(bytes) => bytes as i64,
        }),
        cpus: parsed.cpus,
        cpu_shares: parsed.cpu_shares,
        cpuset_cpus: parsed.cpuset_cpus,
        cpuset_mems: parsed.cpuset_mems,
        pids_limit: parsed.pids_limit.map(|n| n.map(|n| n as i64).unwrap_or(-1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn limits(words: &[&str]) -> Result<Limits> {
        let mut argv = vec!["hs", "run"];
        argv.extend_from_slice(words);
        argv.push("true");
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(args) => from_args(&args),
            _ => unreachable!(),
        }
    }

    #[test]
    fn sizes_become_bytes() {
        let l = limits(&["-m", "200M", "--pids-limit", "50"]).unwrap();
        assert_eq!(l.memory, Some(200 << 20));
        assert_eq!(l.memory_swap, None);
        assert_eq!(l.pids_limit, Some(50));
    }

    #[test]
    fn unlimited_swap_is_minus_one() {
        let l = limits(&["-m", "64M", "--memory-swap", "-1"]).unwrap();
        assert_eq!(l.memory_swap, Some(-1));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(limits(&["-m", "12Q"]).is_err());
        assert!(limits(&["--cpus", "-1"]).is_err());
        assert!(limits(&["--cpuset-cpus", "0-x"]).is_err());
        assert!(limits(&["--pids-limit", "lots"]).is_err());
    }
}
