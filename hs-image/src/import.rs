//! `import`: a rootfs tarball (`docker export`, `tar -C ROOTFS -c .`),
//! gzip or not, becomes a one-layer image.

use std::io::Read;
use std::path::Path;

use crate::error::Result;
use crate::extract::{self, Options};
use crate::reference::Reference;
use crate::store::{LayerContent, Stage, StagedLayer, Store};

/// Imports `input` (`-` = stdin) as a new image named `name`; returns its id.
pub fn import(store: &Store, input: &Path, name: Option<&str>) -> Result<String> {
    let refs = ref_keys(name)?;
    let stage = store.stage()?;
    let reader = crate::archive::open_tar(input)?;
    let layer = stage_layer(&stage, reader, 0)?;
    let created = now();
    let config =
        crate::config::new_config(std::slice::from_ref(&layer.diff_id), &created, "import");
    store.add_image(&config, vec![layer], &refs)
}

/// The stored key of an optional `NAME[:TAG]`, validated before anything
/// is written.
pub fn ref_keys(name: Option<&str>) -> Result<Vec<String>> {
    name.map(|n| Reference::parse(n).map(|r| r.key()))
        .into_iter()
        .collect()
}

/// Extracts the tar stream `reader` as layer number `n` of `stage`.
pub fn stage_layer(
    stage: &Stage,
    reader: impl Read + Send + 'static,
    n: usize,
) -> Result<StagedLayer> {
    let dir = stage.path().join(format!("layer-{n}"));
    std::fs::create_dir(&dir).map_err(|e| crate::error::Error::io("create", &dir, e))?;
    let extracted = extract::extract(reader, &dir, Options::layer())?;
    hs_common::trace::log(
        "extract-layer",
        &format!("{} {} entries", extracted.diff_id, extracted.entries),
    );
    Ok(StagedLayer {
        diff_id: extracted.diff_id,
        size: extracted.size,
        content: LayerContent::Extracted(dir),
    })
}

/// Extracts the archive file `path` (tar or tar.gz) as layer number `n` of
/// `stage`; what comes out must hash to `diff_id` (`what` names the layer
/// in the error).
pub fn stage_layer_file(
    stage: &Stage,
    path: &Path,
    diff_id: &str,
    what: &str,
    n: usize,
) -> Result<StagedLayer> {
    let layer = stage_layer(stage, crate::archive::open_tar(path)?, n)?;
    if layer.diff_id != diff_id {
        return Err(crate::error::Error::DigestMismatch {
            what: what.into(),
            expected: diff_id.into(),
            actual: layer.diff_id,
        });
    }
    Ok(layer)
}

/// Now, as RFC 3339 in UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
