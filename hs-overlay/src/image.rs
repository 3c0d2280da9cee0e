//! `hs-overlay mount`: one overlay of image layers (or any directories) at
//! the target.

use std::path::PathBuf;

use crate::checks;
use crate::error::{OverlayError, Result};
use crate::overlay::{MountOption, OverlaySpec};
use crate::paths;
use crate::plan::Op;

#[derive(Debug, Clone, Default)]
pub struct MountRequest {
    /// Top layer first.
    pub lowers: Vec<PathBuf>,
    pub upper: Option<PathBuf>,
    pub work: Option<PathBuf>,
    pub target: PathBuf,
    pub options: Vec<MountOption>,
}

/// Splits `--lower A:B` values (repeatable) into layers, top first.
pub fn split_lowers(values: &[String]) -> Result<Vec<PathBuf>> {
    let mut lowers = Vec::new();
    for value in values {
        for part in value.split(':') {
            if part.is_empty() {
                return Err(OverlayError::BadArgument {
                    flag: "--lower",
                    value: value.clone(),
                    why: "empty layer path",
                });
            }
            lowers.push(PathBuf::from(part));
        }
    }
    Ok(lowers)
}

/// Checks the request and turns it into the plan: create upper and work,
/// mount the overlay.
pub fn plan(request: &MountRequest) -> Result<Vec<Op>> {
    checks::lowers(&request.lowers)?;
    checks::target(&request.target)?;
    let lowers: Vec<PathBuf> = request
        .lowers
        .iter()
        .map(|l| resolve("lower dir", l))
        .collect::<Result<_>>()?;
    let mut ops = Vec::new();
    let (upper, work) = match (&request.upper, &request.work) {
        (Some(upper), Some(work)) => {
            let upper = resolve("upper dir", upper)?;
            let work = resolve("work dir", work)?;
            checks::upper_and_work(&upper, &work)?;
            checks::outside_lowers(&upper, &work, &lowers)?;
            checks::no_volatile_leftover(&work)?;
            ops.push(Op::CreateDir {
                path: upper.clone(),
            });
            ops.push(Op::CreateDir { path: work.clone() });
            (Some(upper), Some(work))
        }
        (None, None) if request.lowers.len() < 2 => {
            return Err(OverlayError::BadArgument {
                flag: "--lower",
                value: request
                    .lowers
                    .first()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default(),
                why:
                    "a read-only overlay needs at least two lower dirs (or give --upper and --work)",
            })
        }
        (None, None) => (None, None),
        (Some(_), None) | (None, Some(_)) => {
            return Err(OverlayError::BadArgument {
                flag: "--upper/--work",
                value: String::new(),
                why: "give both or neither (neither mounts read-only)",
            })
        }
    };
    ops.push(Op::MountOverlay {
        spec: OverlaySpec {
            lowers,
            upper,
            work,
            options: request.options.clone(),
        },
        target: resolve("target", &request.target)?,
    });
    Ok(ops)
}

pub(crate) fn resolve(what: &'static str, path: &std::path::Path) -> Result<PathBuf> {
    paths::resolve(path).map_err(|e| OverlayError::io(what, path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_split_on_colons_across_flags() {
        let lowers = split_lowers(&["/a:/b".into(), "/c".into()]).unwrap();
        assert_eq!(
            lowers,
            vec![
                PathBuf::from("/a"),
                PathBuf::from("/b"),
                PathBuf::from("/c")
            ]
        );
        assert!(split_lowers(&["/a::/b".into()]).is_err());
    }

    #[test]
    fn plan_creates_upper_and_work_then_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("l")).unwrap();
        std::fs::create_dir(root.join("t")).unwrap();
        let ops = plan(&MountRequest {
            lowers: vec![root.join("l")],
            upper: Some(root.join("u")),
            work: Some(root.join("w")),
            target: root.join("t"),
            options: vec![],
        })
        .unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            ops[0],
            Op::CreateDir {
                path: root.join("u")
            }
        );
        assert!(matches!(&ops[2], Op::MountOverlay { target, .. } if *target == root.join("t")));
        assert!(
            !root.join("u").exists(),
            "planning must not create anything"
        );
    }

    #[test]
    fn upper_without_work_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let request = MountRequest {
            lowers: vec![dir.path().to_path_buf()],
            upper: Some(dir.path().join("u")),
            target: dir.path().to_path_buf(),
            ..Default::default()
        };
        assert!(matches!(
            plan(&request),
            Err(OverlayError::BadArgument { .. })
        ));
    }
}
