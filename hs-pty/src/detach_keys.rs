//! Detach keys in docker's syntax (`ctrl-p,ctrl-q`): a comma-separated
//! list of `ctrl-<key>` or single characters; `""` disables detaching.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad detach keys {0:?}: expected a comma-separated list of ctrl-<key> or single characters, e.g. ctrl-p,ctrl-q")]
pub struct BadDetachKeys(pub String);

pub const DEFAULT: &str = "ctrl-p,ctrl-q";

/// The byte sequence `spec` stands for.
pub fn parse(spec: &str) -> Result<Vec<u8>, BadDetachKeys> {
    if spec.is_empty() {
        return Ok(Vec::new());
    }
    let bad = || BadDetachKeys(spec.to_string());
    spec.split(',')
        .map(|key| match key.as_bytes() {
            [c] if c.is_ascii() => Ok(*c),
            _ => {
                let rest = key.strip_prefix("ctrl-").ok_or_else(bad)?;
                match rest.as_bytes() {
                    [c @ b'a'..=b'z'] => Ok(c - b'a' + 1),
                    [c @ b'A'..=b'Z'] => Ok(c - b'A' + 1),
                    [b'@'] => Ok(0),
                    [c @ (b'[' | b'\\' | b']' | b'^' | b'_')] => Ok(c - b'@'),
                    _ => Err(bad()),
                }
            }
        })
        .collect()
}

/// Watches input for the detach sequence. Bytes that could start it are
/// held back until the sequence completes (detach: they are never sent) or
/// breaks (they are sent after all), as docker does.
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> Self {
        Self { keys, matched: 0 }
    }

    /// Appends to `out` the bytes of `input` to forward; true when the
    /// sequence completed (the rest of `input` is dropped).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &byte in input {
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return true;
                }
                continue;
            }
            if self.matched > 0 {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if byte == self.keys[0] {
                    self.matched = 1;
                    continue;
                }
            }
            out.push(byte);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_is_ctrl_p_ctrl_q() {
        assert_eq!(parse(DEFAULT).unwrap(), vec![0x10, 0x11]);
    }

    #[test]
    fn plain_characters_and_punctuation_keys_parse() {
        assert_eq!(
            parse("a,ctrl-[,ctrl-@,ctrl-_").unwrap(),
            vec![b'a', 27, 0, 31]
        );
        assert_eq!(parse("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(parse("ctrl-").is_err());
        assert!(parse("alt-x").is_err());
        assert!(parse("ab").is_err());
        assert!(parse("ctrl-p,").is_err());
    }

    #[test]
    fn the_sequence_detaches_and_is_not_forwarded() {
        let mut matcher = DetachMatcher::new(parse(DEFAULT).unwrap());
        let mut out = Vec::new();
        assert!(!matcher.feed(b"ls\x10", &mut out));
        assert_eq!(out, b"ls");
        assert!(matcher.feed(b"\x11rest", &mut out));
        assert_eq!(out, b"ls");
    }

    #[test]
    fn a_broken_sequence_is_forwarded_whole() {
        let mut matcher = DetachMatcher::new(parse(DEFAULT).unwrap());
        let mut out = Vec::new();
        assert!(!matcher.feed(b"\x10x\x10\x10", &mut out));
        assert_eq!(out, b"\x10x\x10");
        assert!(matcher.feed(b"\x11", &mut out));
    }

    #[test]
    fn empty_keys_never_detach() {
        let mut matcher = DetachMatcher::new(Vec::new());
        let mut out = Vec::new();
        assert!(!matcher.feed(b"\x10\x11", &mut out));
        assert_eq!(out, b"\x10\x11");
    }
}
