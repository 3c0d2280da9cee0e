//! `export`: an image's layers flattened into one plain tar, the way the
//! overlay shows them (an upper entry hides lower ones, whiteouts delete,
//! opaque dirs hide the whole lower dir), like `docker export`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::store::Store;
use crate::tarwrite::{is_opaque, is_whiteout, sorted_names, LayerWriter};

/// Writes the flattened image `reference` as a tar to `out`.
pub fn export(store: &Store, reference: &str, out: impl Write) -> Result<()> {
    let info = store.resolve_unpacked(reference)?;
    let mut writer = LayerWriter::new(out, false);
    merge(&mut writer, &info.lowerdirs, Path::new(""))?;
    writer.finish()?.flush().ctx("write", "archive")?;
    Ok(())
}

/// Exports to `output` (`-` = stdout) through a temp file renamed into
/// place, so a failed export leaves no partial archive behind.
pub fn export_to(store: &Store, reference: &str, output: &Path) -> Result<()> {
    if output == Path::new("-") {
        let stdout = std::io::stdout().lock();
        return export(store, reference, std::io::BufWriter::new(stdout));
    }
    let mut tmp = output.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = std::fs::File::create(&tmp)
        .ctx("create", &tmp)
        .and_then(|file| export(store, reference, std::io::BufWriter::new(file)))
        .and_then(|()| std::fs::rename(&tmp, output).ctx("rename", output));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes the merged view of directory `rel` as seen through `layers`
/// (top first; each has `rel` as a visible directory).
fn merge<W: Write>(writer: &mut LayerWriter<W>, layers: &[PathBuf], rel: &Path) -> Result<()> {
    let mut names = BTreeSet::new();
    for layer in layers {
        names.extend(sorted_names(&layer.join(rel))?);
    }
    for name in names {
        let path = rel.join(&name);
        let Some((top, meta)) = layers.iter().enumerate().find_map(|(i, l)| {
            std::fs::symlink_metadata(l.join(&path))
                .ok()
                .map(|m| (i, m))
        }) else {
            continue;
        };
        if is_whiteout(&meta) {
            continue;
        }
        writer.append(&layers[top].join(&path), &path, &meta)?;
        if meta_is_dir(&layers[top].join(&path)) {
            let mut below = Vec::new();
            for layer in &layers[top..] {
                match std::fs::symlink_metadata(layer.join(&path)) {
                    Ok(m) if m.is_dir() => {
                        below.push(layer.clone());
                        if is_opaque(&layer.join(&path)) {
                            break;
                        }
                    }
                    Ok(_) => break,
                    Err(_) => {}
                }
            }
            merge(writer, &below, &path)?;
        }
    }
    Ok(())
}

fn meta_is_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}
