//! hs-image: the image store. See README.md.

// A C main (hs_common::tool_main!); the test harness brings its own.
#![cfg_attr(all(not(test), target_os = "linux"), no_main)]
#![cfg_attr(test, allow(dead_code))]

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use hs_common::Failure;
use hs_image::Store;

/// The image store under $HS_ROOT/images: import, load, pull, ls, rm,
/// inspect, export, commit, lowerdirs. Listings print JSON (Lines) on stdout.
#[derive(Parser)]
#[command(name = "hs-image", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Each subcommand's arguments are built only when it runs: a tool in the
// chain then pays for its own subcommand alone (clap_derive's `defer`).
#[command(defer = true)]
enum Command {
    /// Import a rootfs tarball (tar or tar.gz, by content; `-` = stdin) as a one-layer image; prints {"id","refs"}.
    Import {
        file: PathBuf,
        /// NAME[:TAG] (tag defaults to latest).
        name: Option<String>,
    },
    /// Load a `docker save` archive or an OCI layout (dir, tar or tar.gz); prints one JSON line per image.
    Load {
        /// The archive, or an OCI layout directory.
        #[arg(short, long)]
        input: PathBuf,
        /// NAME[:TAG] for the loaded image (an OCI layout's tag annotation fills in a missing tag).
        name: Option<String>,
    },
    #[cfg(feature = "pull")]
    /// Pull an image from a registry (linux/amd64 from a multi-platform index); layers are extracted on first use; prints one JSON line.
    Pull {
        reference: String,
        /// Plain http to the registry (e.g. one on 127.0.0.1).
        #[arg(long)]
        insecure: bool,
        /// Extract the layers now, not on first use.
        #[arg(long)]
        unpack: bool,
        /// USER:PASSWORD for the registry's token service.
        #[arg(long, env = "HS_REGISTRY_CREDENTIALS", hide_env_values = true)]
        creds: Option<String>,
    },
    /// Commit a container's upper dir as a new image on top of --parent (none: a host-mirror diff); prints {"id","refs"}.
    Commit {
        upper: PathBuf,
        /// NAME[:TAG] of the new image.
        name: Option<String>,
        /// The image the container ran (its layers go below the new one).
        #[arg(long)]
        parent: Option<String>,
    },
    /// Write the image flattened into one tar (`-o -` = stdout).
    Export {
        image: String,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// List images as JSON Lines: name, tag, id, size, created.
    #[command(alias = "list")]
    Ls,
    /// Remove an image reference; the image and its unshared layers go with the last one.
    #[command(alias = "rmi")]
    Rm {
        /// Remove even when a container record uses the image.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Print everything about an image as JSON.
    Inspect { image: String },
    /// Print the image's layer dirs, top first, joined by `:` (for hs-overlay mount --lower).
    Lowerdirs { image: String },
}

hs_common::tool_main!("hs-image", run_cli);

fn run_cli() -> Result<i32, Failure> {
    let cli: Cli = hs_common::cli::parse("hs-image")?;
    let store = Store::from_env()?;
    run(cli.command, &store)
}

fn run(command: Command, store: &Store) -> Result<i32, Failure> {
    match command {
        Command::Import { file, name } => {
            let id = hs_image::import(store, &file, name.as_deref())?;
            print_added(id, name.as_deref())?;
        }
        Command::Load { input, name } => {
            for loaded in hs_image::load::load(store, &input, name.as_deref())? {
                print_json(&loaded)?;
            }
        }
        #[cfg(feature = "pull")]
        Command::Pull {
            reference,
            insecure,
            unpack,
            creds,
        } => {
            let options = hs_image::pull::PullOptions {
                insecure,
                credentials: creds,
                unpack,
            };
            print_json(&hs_image::pull::pull(store, &reference, &options)?)?;
        }
        Command::Commit {
            upper,
            name,
            parent,
        } => {
            let id = hs_image::commit::commit(store, &upper, name.as_deref(), parent.as_deref())?;
            print_added(id, name.as_deref())?;
        }
        Command::Export { image, output } => hs_image::export::export_to(store, &image, &output)?,
        Command::Ls => {
            for image in store.list()? {
                print_json(&image)?;
            }
        }
        Command::Rm { force, images } => {
            for image in images {
                print_json(&store.remove(&image, force)?)?;
            }
        }
        Command::Inspect { image } => print_json(&store.inspect(&image)?)?,
        Command::Lowerdirs { image } => {
            let dirs: Vec<String> = store
                .lowerdirs(&image)?
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            println!("{}", dirs.join(":"));
        }
    }
    Ok(0)
}

/// `{"id":…,"refs":[…]}`, the shape `load` prints per image.
fn print_added(id: String, name: Option<&str>) -> Result<(), Failure> {
    let refs = hs_image::import::ref_keys(name)?;
    print_json(&hs_image::load::Loaded { id, refs })
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let line = serde_json::to_string(value).map_err(Failure::tool)?;
    println!("{line}");
    Ok(())
}
