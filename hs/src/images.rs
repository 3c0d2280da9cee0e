//! The image commands: `images`, `import`, `load`, `pull`, `rmi`, `commit`,
//! `export`, through hs-image's library (`pull` execs the hs-image tool,
//! which owns the network code).

use hs_common::Failure;
use hs_state::schema::Rootfs;

use crate::cli::*;
use crate::commands::{resolve, store};
use crate::error::{HsError, Outcome};
use crate::image;
use crate::listing::{align_tabs, human_duration};

fn image_error(e: hs_image::Error) -> Failure {
    Failure::tool(HsError::Image(e.to_string()))
}

fn image_store() -> Result<hs_image::Store, Failure> {
    Ok(image::store(store()?.root())?)
}

/// docker's `images` table: REPOSITORY TAG IMAGE ID CREATED SIZE.
pub fn images(args: ImagesArgs) -> Outcome {
    let list = image_store()?.list().map_err(image_error)?;
    let now = chrono::Utc::now();
    let mut text = String::new();
    if args.json {
        for summary in &list {
            text.push_str(&serde_json::to_string(summary).map_err(Failure::tool)?);
            text.push('\n');
        }
    } else if args.quiet {
        for summary in &list {
            text.push_str(short_image_id(&summary.id));
            text.push('\n');
        }
    } else {
        let mut lines = vec!["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE".to_string()];
        for summary in &list {
            let created = summary
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|c| {
                    let seconds = (now - c.with_timezone(&chrono::Utc)).num_seconds();
                    format!("{} ago", human_duration(seconds))
                })
                .unwrap_or_else(|| "N/A".into());
            lines.push(format!(
                "{}\t{}\t{}\t{}\t{}",
                summary.name.as_deref().unwrap_or("<none>"),
                summary.tag.as_deref().unwrap_or("<none>"),
                short_image_id(&summary.id),
                created,
                size_text(summary.size)
            ));
        }
        text = align_tabs(&lines);
    }
    print!("{text}");
    Ok(0)
}

fn short_image_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// docker's decimal sizes: 4.26MB.
fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + UNITS[unit]
    }
}

pub fn import(args: ImportArgs) -> Outcome {
    let store = image_store()?;
    let id = hs_image::import(&store, &args.file, args.name.as_deref()).map_err(image_error)?;
    println!("{id}");
    Ok(0)
}

pub fn load(args: LoadArgs) -> Outcome {
    let store = image_store()?;
    let loaded = hs_image::load::load(&store, &args.input, None).map_err(image_error)?;
    for image in loaded {
        if image.refs.is_empty() {
            println!("Loaded image ID: {}", image.id);
        }
        for reference in image.refs {
            println!("Loaded image: {reference}");
        }
    }
    Ok(0)
}

/// Runs `hs-image pull` (the only tool with network code, which shows the
/// progress and any error itself) and reports like docker: the manifest
/// digest, whether anything was downloaded, and the reference.
pub fn pull(args: PullArgs) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    let tool = hs_common::sibling::sibling("hs-image")?;
    let mut cmd = std::process::Command::new(tool);
    cmd.arg("pull").arg(&args.reference);
    for (set, flag) in [(args.insecure, "--insecure"), (args.unpack, "--unpack")] {
        if set {
            cmd.arg(flag);
        }
    }
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Failure::tool(format!("running hs-image pull: {e}")))?;
    if !out.status.success() {
        return Ok(hs_common::exit::exit_code_from_raw(out.status.into_raw()));
    }
    let pulled: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Failure::tool(format!("reading hs-image pull's report: {e}")))?;
    let reference = pulled["reference"].as_str().unwrap_or(&args.reference);
    let status = if pulled["downloaded"].as_u64() == Some(0) {
        "Image is up to date for"
    } else {
        "Downloaded newer image for"
    };
    println!("Digest: {}", pulled["digest"].as_str().unwrap_or("unknown"));
    println!("Status: {status} {reference}");
    println!("{reference}");
    Ok(0)
}

pub fn rmi(args: RmiArgs) -> Outcome {
    let store = image_store()?;
    let mut failed = false;
    for reference in &args.images {
        match store.remove(reference, args.force) {
            Ok(removed) => {
                for tag in removed.untagged {
                    println!("Untagged: {tag}");
                }
                if let Some(id) = removed.deleted {
                    println!("Deleted: {id}");
                }
            }
            Err(e) => {
                hs_common::exit::report_failure("hs", &image_error(e));
                failed = true;
            }
        }
    }
    Ok(if failed { hs_common::EXIT_TOOL } else { 0 })
}

/// The container's upper dir as a new image on top of the image it ran
/// (a host mirror's upper is committed alone: its diff of the host).
pub fn commit(args: CommitArgs) -> Outcome {
    let containers = store()?;
    let record = resolve(&containers, &args.container)?;
    let parent = match &record.config.rootfs {
        Rootfs::Image { id, .. } => Some(id.clone()),
        Rootfs::Host { .. } => None,
        Rootfs::Dir { path } => {
            return Err(Failure::tool(format!(
                "commit {}: the container runs the plain directory {path}, not an image: import it first (tar -C {path} -c . | hs import - NAME)",
                args.container
            )))
        }
    };
    let store = image::store(containers.root())?;
    let upper = containers.container_dir(&record.id).join("upper");
    let id = hs_image::commit::commit(&store, &upper, Some(&args.image), parent.as_deref())
        .map_err(image_error)?;
    println!("{id}");
    Ok(0)
}

/// A container's filesystem as a tar: its changes committed on top of its
/// image to a temporary image, exported flattened, then removed.
pub fn export(args: ExportArgs) -> Outcome {
    let containers = store()?;
    let record = resolve(&containers, &args.container)?;
    let parent = match &record.config.rootfs {
        Rootfs::Image { id, .. } => id.clone(),
        _ => {
            return Err(Failure::tool(format!(
                "export {}: only containers of stored images can be exported",
                args.container
            )))
        }
    };
    let store = image::store(containers.root())?;
    let upper = containers.container_dir(&record.id).join("upper");
    let temp = format!("hs-export-{}:{}", &record.id[..12], std::process::id());
    let id = hs_image::commit::commit(&store, &upper, Some(&temp), Some(&parent))
        .map_err(image_error)?;
    let result = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| HsError::io(format!("creating {}", path.display()), e))?;
            hs_image::export::export(&store, &id, std::io::BufWriter::new(file))
        }
        None => hs_image::export::export(&store, &id, std::io::stdout().lock()),
    };
    let _ = store.remove(&temp, true);
    result.map_err(image_error)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(size_text(999), "999B");
        assert_eq!(size_text(4_260_000), "4.26MB");
        assert_eq!(size_text(1_000_000), "1MB");
    }

    #[test]
    fn image_ids_are_cut_to_twelve_hex_digits() {
        assert_eq!(short_image_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
