//! `pull`: the OCI distribution protocol through oci-client (token auth,
//! manifest lists and OCI indexes resolved to linux/<this arch>). Every blob
//! is digest-checked by the client; layers the store already has are not
//! downloaded again. A layer is stored as its blob and extracted on first
//! use (`Store::unpack`, which checks its diff id), as containerd fetches
//! and unpacks in two steps; `--unpack` does both now. Only this module
//! links an async runtime, and only for the pull itself.

use std::fs::File;
use std::future::poll_fn;
use std::io::{IsTerminal, Write};
use std::pin::Pin;

use futures_core::Stream;
use indicatif::{ProgressBar, ProgressStyle};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError};
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use serde::Serialize;

use crate::config::ImageConfig;
use crate::error::{Error, IoContext, Result};
use crate::import::stage_layer_file;
use crate::reference::{Reference, DEFAULT_REGISTRY, DEFAULT_TAG};
use crate::store::{LayerContent, StagedLayer, Store};

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Plain http to the registry (for a loopback registry in tests).
    pub insecure: bool,
    /// `USER:PASSWORD` for the registry (its token service).
    pub credentials: Option<String>,
    /// Extract the layers now instead of on first use.
    pub unpack: bool,
}

/// What a pull added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pulled {
    pub id: String,
    pub reference: String,
    /// The digest of the image manifest that was pulled.
    pub digest: String,
    /// Layers downloaded (the others were in the store already).
    pub downloaded: usize,
    pub layers: usize,
    /// Layers extracted by `--unpack`.
    pub unpacked: usize,
}

pub fn pull(store: &Store, reference: &str, options: &PullOptions) -> Result<Pulled> {
    let parsed = Reference::parse(reference)?.normalized();
    let key = parsed.key();
    let registry_error = |message: String| Error::Registry {
        reference: reference.into(),
        message,
    };
    let oci_ref = oci_reference(&parsed);
    let auth = match &options.credentials {
        Some(creds) => {
            let (user, password) = creds
                .split_once(':')
                .ok_or_else(|| registry_error("credentials must be USER:PASSWORD".into()))?;
            RegistryAuth::Basic(user.into(), password.into())
        }
        None => RegistryAuth::Anonymous,
    };
    let config = ClientConfig {
        protocol: if options.insecure {
            ClientProtocol::HttpsExcept(vec![parsed.registry()])
        } else {
            ClientProtocol::Https
        },
        platform_resolver: Some(Box::new(this_platform)),
        ..ClientConfig::default()
    };
    let client = oci_client::Client::new(config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ctx("start runtime for", store.dir())?;
    let stage = store.stage()?;
    let map = |e: OciDistributionError| map_error(reference, e);
    let (manifest, config_bytes, digest) = runtime.block_on(async {
        let (manifest, digest) = client
            .pull_image_manifest(&oci_ref, &auth)
            .await
            .map_err(map)?;
        let mut config_bytes = Vec::new();
        client
            .pull_blob(&oci_ref, &manifest.config, &mut config_bytes)
            .await
            .map_err(map)?;
        Ok::<_, Error>((manifest, config_bytes, digest))
    })?;
    let config = ImageConfig::parse(&config_bytes, &manifest.config.digest)?;
    if config.diff_ids.len() != manifest.layers.len() {
        return Err(registry_error(
            "manifest and config disagree on the layer count".into(),
        ));
    }
    let total: i64 = manifest.layers.iter().map(|l| l.size.max(0)).sum();
    let bar = progress(total as u64);
    let mut layers = Vec::new();
    let mut downloaded = 0;
    for (i, (descriptor, diff_id)) in manifest.layers.iter().zip(&config.diff_ids).enumerate() {
        if store.has_layer(diff_id) {
            hs_common::trace::log("layer-present", diff_id);
            if let Some(bar) = &bar {
                bar.inc(descriptor.size.max(0) as u64);
            }
            layers.push(StagedLayer::stored(diff_id));
            continue;
        }
        let path = stage.path().join(format!("blob-{i}"));
        let mut file = File::create(&path).ctx("create", &path)?;
        runtime.block_on(async {
            let mut stream = client
                .pull_blob_stream(&oci_ref, descriptor)
                .await
                .map_err(map)?;
            while let Some(chunk) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
                let chunk = chunk.map_err(|e| map_stream_error(reference, e))?;
                file.write_all(&chunk).ctx("write", &path)?;
                if let Some(bar) = &bar {
                    bar.inc(chunk.len() as u64);
                }
            }
            Ok::<_, Error>(())
        })?;
        // Refused now, not at the first run: what is not a tar or a
        // tar.gz (the start of the stream is all this reads).
        let file = File::open(&path).ctx("open", &path)?;
        crate::archive::tar_stream(file, &format!("layer {}", descriptor.digest))?;
        downloaded += 1;
        hs_common::trace::log("layer-downloaded", &descriptor.digest);
        layers.push(if options.unpack {
            let what = format!("layer {}", descriptor.digest);
            stage_layer_file(&stage, &path, diff_id, &what, i)?
        } else {
            StagedLayer {
                diff_id: diff_id.clone(),
                size: descriptor.size.max(0) as u64,
                content: LayerContent::Packed {
                    file: path,
                    digest: descriptor.digest.clone(),
                },
            }
        });
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let count = layers.len();
    let id = store.add_image(&config_bytes, layers, std::slice::from_ref(&key))?;
    // Layers another pull left packed are extracted too: `--unpack`
    // promises an image ready to run.
    let unpacked = if options.unpack {
        store.unpack(&id)? + downloaded
    } else {
        0
    };
    Ok(Pulled {
        id,
        reference: key,
        digest,
        downloaded,
        layers: count,
        unpacked,
    })
}

/// linux/<this arch> from an index (what `docker pull` picks here).
fn this_platform(manifests: &[ImageIndexEntry]) -> Option<String> {
    manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == crate::config::go_arch())
        })
        .map(|m| m.digest.clone())
}

/// oci-client's form of the normalized `parsed`, built from its parts:
/// parsing the text again would compile oci-spec's reference regex (6% of
/// a pull's CPU time).
fn oci_reference(parsed: &Reference) -> oci_client::Reference {
    let (registry, repository) = parsed
        .repository
        .split_once('/')
        .unwrap_or((DEFAULT_REGISTRY, &parsed.repository));
    let (registry, repository) = (registry.to_string(), repository.to_string());
    match (&parsed.digest, &parsed.tag) {
        (Some(digest), _) => {
            oci_client::Reference::with_digest(registry, repository, digest.clone())
        }
        (None, tag) => oci_client::Reference::with_tag(
            registry,
            repository,
            tag.clone().unwrap_or_else(|| DEFAULT_TAG.into()),
        ),
    }
}

/// An error in the middle of a blob's stream: the digest check at its end
/// (oci-client wraps it in an io::Error), or the connection.
fn map_stream_error(reference: &str, error: std::io::Error) -> Error {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<DigestError>())
    {
        Some(DigestError::VerificationError { expected, actual }) => {
            blob_mismatch(reference, expected, actual)
        }
        _ => Error::Registry {
            reference: reference.into(),
            message: error.to_string(),
        },
    }
}

fn blob_mismatch(reference: &str, expected: &str, actual: &str) -> Error {
    Error::DigestMismatch {
        what: format!("blob of {reference}"),
        expected: expected.into(),
        actual: actual.into(),
    }
}

fn map_error(reference: &str, error: OciDistributionError) -> Error {
    let message = match &error {
        OciDistributionError::DigestError(DigestError::VerificationError { expected, actual }) => {
            return blob_mismatch(reference, expected, actual)
        }
        OciDistributionError::ImageManifestNotFoundError(m) => format!("manifest not found: {m}"),
        other => {
            let text = other.to_string();
            if text.contains("MANIFEST_UNKNOWN") || text.contains("manifest unknown") {
                "manifest unknown: no such tag or digest in the registry".to_string()
            } else if text.contains("NAME_UNKNOWN") {
                "repository unknown to the registry".to_string()
            } else {
                text.lines().next().unwrap_or_default().to_lowercase()
            }
        }
    };
    Error::Registry {
        reference: reference.into(),
        message,
    }
}

/// A byte progress bar on stderr, only when stderr is a terminal.
fn progress(total: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style);
    }
    Some(bar)
}
