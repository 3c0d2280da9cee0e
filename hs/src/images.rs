//! The image commands: `images`, `import`, `load`, `pull`, `rmi`, `commit`,
//! `export`, through hs-image.

use hs_common::Failure;

use crate::cli::*;

type Outcome = Result<i32, Failure>;

fn unavailable(what: &str) -> Outcome {
    Err(Failure::tool(format!(
        "{what}: the image store is not available in this build"
    )))
}

pub fn commit(_args: CommitArgs) -> Outcome {
    unavailable("commit")
}
pub fn images(_args: ImagesArgs) -> Outcome {
    unavailable("images")
}
pub fn import(_args: ImportArgs) -> Outcome {
    unavailable("import")
}
pub fn load(_args: LoadArgs) -> Outcome {
    unavailable("load")
}
pub fn pull(_args: PullArgs) -> Outcome {
    unavailable("pull")
}
pub fn rmi(_args: RmiArgs) -> Outcome {
    unavailable("rmi")
}
pub fn export(_args: ExportArgs) -> Outcome {
    unavailable("export")
}
