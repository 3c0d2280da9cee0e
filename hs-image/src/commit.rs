//! `commit`: a container's upper dir becomes a new layer on top of its
//! image. overlayfs whiteouts (char 0/0) turn into `.wh.NAME` entries and
//! opaque dirs get `.wh..wh..opq`, so the layer means the same in any
//! runtime. For a host-mirror container (no `--parent`) the upper holds one
//! subdir per mirrored dir (`upper/etc` is `/etc`), and the image is that
//! diff alone, not a copy of the host.

use std::io::BufWriter;
use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::import::{now, ref_keys, stage_layer};
use crate::store::{StagedLayer, Store};
use crate::tarwrite::{sorted_names, LayerWriter};

/// Commits `upper` as an image named `name`, on top of image `parent`
/// when given; returns the new image id.
pub fn commit(
    store: &Store,
    upper: &Path,
    name: Option<&str>,
    parent: Option<&str>,
) -> Result<String> {
    let refs = ref_keys(name)?;
    if !upper.is_dir() {
        return Err(Error::io(
            "read upper dir",
            upper,
            std::io::ErrorKind::NotFound.into(),
        ));
    }
    let parent = parent.map(|p| store.resolve(p)).transpose()?;
    let stage = store.stage()?;
    let tar_path = stage.path().join("layer.tar");
    let file = std::fs::File::create(&tar_path).ctx("create", &tar_path)?;
    let mut writer = LayerWriter::new(BufWriter::with_capacity(1 << 20, file), true);
    write_tree(&mut writer, upper, Path::new(""))?;
    writer
        .finish()?
        .into_inner()
        .map_err(|e| Error::io("write", &tar_path, e.into_error()))?;
    let reader = std::fs::File::open(&tar_path).ctx("open", &tar_path)?;
    let layer = stage_layer(
        &stage,
        std::io::BufReader::with_capacity(1 << 20, reader),
        0,
    )?;
    let created = now();
    let comment = format!("commit {}", upper.display());
    let (config, mut layers) = match &parent {
        Some(info) => {
            let parent_config = store.config(&info.id)?;
            let config =
                crate::config::with_layer(&parent_config, &layer.diff_id, &created, &comment);
            let below = parent_config
                .diff_ids
                .iter()
                .map(|d| StagedLayer::stored(d))
                .collect();
            (config, below)
        }
        None => (
            crate::config::new_config(std::slice::from_ref(&layer.diff_id), &created, &comment),
            Vec::new(),
        ),
    };
    layers.push(layer);
    store.add_image(&config, layers, &refs)
}

/// Appends everything below `dir` with archive names under `prefix`.
fn write_tree<W: std::io::Write>(
    writer: &mut LayerWriter<W>,
    dir: &Path,
    prefix: &Path,
) -> Result<()> {
    for name in sorted_names(dir)? {
        let source = dir.join(&name);
        let archive_name = prefix.join(&name);
        let meta = std::fs::symlink_metadata(&source).ctx("stat", &source)?;
        writer.append(&source, &archive_name, &meta)?;
        if meta.is_dir() {
            write_tree(writer, &source, &archive_name)?;
        }
    }
    Ok(())
}
