//! `hs run --log-opt KEY=VALUE`: docker's json-file rotation options,
//! `max-size=SIZE` and `max-file=N`, for hs-pty's `--log-max-size` /
//! `--log-max-files`. Anything else is refused: hs has one log format.

use crate::error::{HsError, Result};

/// The log's rotation as asked: bytes per file, and files kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogRotation {
    pub max_size: Option<u64>,
    pub max_files: Option<u32>,
}

pub fn parse(opts: &[String]) -> Result<LogRotation> {
    let bad = |opt: &str, why: &str| HsError::BadValue {
        flag: "--log-opt",
        value: opt.to_string(),
        why: why.into(),
    };
    let mut rotation = LogRotation::default();
    for opt in opts {
        match opt.split_once('=') {
            Some(("max-size", value)) => {
                let size = hs_cgroup::limits::parse_size("--log-opt", value)
                    .map_err(|e| bad(opt, &e.why))?;
                if size == 0 {
                    return Err(bad(opt, "must be more than 0"));
                }
                rotation.max_size = Some(size);
            }
            Some(("max-file", value)) => {
                let files = value
                    .parse::<u32>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| bad(opt, "expected a number of files, 1 or more"))?;
                rotation.max_files = Some(files);
            }
            _ => return Err(bad(opt, "only max-size=SIZE and max-file=N are supported")),
        }
    }
    if rotation.max_files.is_some() && rotation.max_size.is_none() {
        return Err(HsError::BadValue {
            flag: "--log-opt",
            value: "max-file".into(),
            why: "needs max-size too".into(),
        });
    }
    Ok(rotation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(opts: &[&str]) -> Result<LogRotation> {
        parse(&opts.iter().map(|o| o.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn size_and_files_take_dockers_forms() {
        assert_eq!(parsed(&[]).unwrap(), LogRotation::default());
        assert_eq!(
            parsed(&["max-size=10m", "max-file=3"]).unwrap(),
            LogRotation {
                max_size: Some(10 << 20),
                max_files: Some(3)
            }
        );
        assert_eq!(parsed(&["max-size=1k"]).unwrap().max_size, Some(1024));
    }

    #[test]
    fn bad_or_unknown_options_are_refused() {
        for opts in [
            &["max-size=0"][..],
            &["max-size=ten"],
            &["max-size=1k", "max-file=0"],
            &["max-file=2"],
            &["mode=non-blocking"],
            &["max-size"],
        ] {
            assert!(parsed(opts).is_err(), "{opts:?}");
        }
    }
}
