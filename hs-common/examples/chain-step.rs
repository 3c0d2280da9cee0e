//! A minimal chain tool for the handshake tests: `chain-step -- PROG…`
//! does nothing but exec PROG the way every hs tool does.

fn main() {
    hs_common::run_main("chain-step", || {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        let prog = match args.iter().position(|a| a == "--") {
            Some(i) => &args[i + 1..],
            None => &args[..],
        };
        Err(hs_common::exec::exec(prog))
    })
}
