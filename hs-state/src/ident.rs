//! Container ids and names: 64 hex chars from the kernel's random source,
//! docker's name rule, and readable generated names.

use crate::error::{Error, Result};

/// Length of a full container id in hex chars.
pub const ID_LEN: usize = 64;

/// A fresh 64-hex-char id (256 random bits: collisions are not a concern,
/// but `create` still refuses to reuse an existing directory).
pub fn new_id() -> Result<String> {
    let mut bytes = [0u8; ID_LEN / 2];
    fill_random(&mut bytes)?;
    Ok(to_hex(&bytes))
}

/// True for a string of exactly 64 lowercase hex chars.
pub fn is_full_id(s: &str) -> bool {
    s.len() == ID_LEN && is_hex(s)
}

/// True for a non-empty string of lowercase hex chars (a possible id prefix).
pub fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Docker's rule `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; it also keeps names safe as
/// file names under `names/` (no `/`, no leading `.`).
pub fn validate_name(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    // NAME_MAX of the names/ directory entry.
    if first_ok && rest_ok && name.len() <= 255 {
        Ok(())
    } else {
        Err(Error::InvalidName {
            name: name.to_string(),
        })
    }
}

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "ancient", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp",
    "curious", "daring", "eager", "electric", "fancy", "fierce", "gentle", "glad", "golden",
    "happy", "hidden", "humble", "jolly", "keen", "kind", "lively", "lucid", "lucky", "mellow",
    "merry", "mighty", "misty", "modest", "nimble", "noble", "patient", "plucky", "polite",
    "proud", "quick", "quiet", "rapid", "rustic", "serene", "sharp", "shiny", "silent", "snowy",
    "solid", "steady", "sunny", "swift", "tender", "tidy", "vivid", "wise", "witty", "zealous",
];

const NOUNS: &[&str] = &[
    "albatross",
    "badger",
    "beacon",
    "bison",
    "canyon",
    "cedar",
    "comet",
    "coral",
    "crane",
    "delta",
    "dolphin",
    "ember",
    "falcon",
    "fern",
    "fjord",
    "glacier",
    "harbor",
    "heron",
    "island",
    "jaguar",
    "kestrel",
    "lagoon",
    "lantern",
    "lynx",
    "maple",
    "meadow",
    "meteor",
    "nebula",
    "orchid",
    "osprey",
    "otter",
    "panda",
    "pebble",
    "pine",
    "prairie",
    "quartz",
    "raven",
    "reef",
    "river",
    "robin",
    "sequoia",
    "sparrow",
    "spruce",
    "summit",
    "tiger",
    "tundra",
    "valley",
    "walrus",
    "willow",
    "wombat",
    "yak",
    "zephyr",
];

/// A readable name like `swift_heron`; after a few collisions the caller
/// asks for a suffixed one (`swift_heron_4821`), which practically never
/// collides.
pub fn generated_name(attempt: u32) -> Result<String> {
    let mut bytes = [0u8; 8];
    fill_random(&mut bytes)?;
    let n = u64::from_le_bytes(bytes);
    let adjective = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
    let noun = NOUNS[((n >> 16) % NOUNS.len() as u64) as usize];
    Ok(if attempt < 3 {
        format!("{adjective}_{noun}")
    } else {
        format!("{adjective}_{noun}_{}", (n >> 32) % 10_000)
    })
}

fn fill_random(buf: &mut [u8]) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, a live mutable slice.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::Random(err));
        }
        filled += n as usize;
    }
    Ok(())
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_lowercase_hex_and_differ() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert!(is_full_id(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn docker_name_rule() {
        for ok in ["a", "web-1", "My.app_2", "0abc"] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            "-x",
            ".x",
            "_x",
            "a/b",
            "a b",
            "..",
            "é",
            &"a".repeat(256),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn generated_names_follow_the_rule() {
        for attempt in 0..6 {
            let name = generated_name(attempt).unwrap();
            validate_name(&name).unwrap();
            assert!(name.contains('_'), "{name}");
        }
    }

    #[test]
    fn hex_prefixes() {
        assert!(is_hex("0af"));
        assert!(!is_hex(""));
        assert!(!is_hex("0AF"));
        assert!(!is_hex("xyz"));
    }
}
