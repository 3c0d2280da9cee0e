//! `HS_TRACE=1`: every tool logs the steps it performs to stderr.

use std::sync::OnceLock;

/// True when `HS_TRACE` is set to something other than empty or `0`.
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| matches!(std::env::var("HS_TRACE"), Ok(v) if !v.is_empty() && v != "0"))
}

/// Logs one step as `TOOL[PID]: trace: STEP DETAIL` when tracing is on.
pub fn log(step: &str, detail: &str) {
    if enabled() {
        let line = format!(
            "{}[{}]: trace: {step} {detail}",
            tool_name(),
            std::process::id()
        );
        write_line(&line);
    }
}

/// Writes `line` and a newline to stderr in one write(2): the processes of
/// a chain share one stderr, and `eprintln!` writes each formatted piece
/// separately, so lines of two processes could interleave mid-line.
pub fn write_line(line: &str) {
    use std::io::Write;
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let _ = std::io::stderr().write_all(&bytes);
}

fn tool_name() -> String {
    crate::args::args_os()
        .into_iter()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "hs".into())
}
