//! sha256 digests: the `sha256:<hex>` form, and hashing while reading so an
//! archive is digested in the same pass that extracts it.

use std::io::Read;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, IoContext, Result};

/// Checks `digest` is `sha256:` + 64 lowercase hex and returns the hex part.
pub fn hex_of(digest: &str) -> Result<&str> {
    let hex = digest.strip_prefix("sha256:").ok_or_else(|| {
        Error::BadReference(digest.into(), "only sha256 digests are supported".into())
    })?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Error::BadReference(
            digest.into(),
            "not a sha256 digest".into(),
        ));
    }
    Ok(hex)
}

/// `sha256:<hex>` of `bytes`.
pub fn of_bytes(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `sha256:<hex>` of a file's content.
pub fn of_file(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).ctx("open", path)?;
    let mut reader = HashingReader::new(file);
    std::io::copy(&mut reader, &mut std::io::sink()).ctx("read", path)?;
    Ok(reader.digest())
}

/// Fails unless `path` has digest `expected`.
pub fn verify_file(path: &Path, expected: &str, what: &str) -> Result<()> {
    let actual = of_file(path)?;
    if actual != expected {
        return Err(Error::DigestMismatch {
            what: what.into(),
            expected: expected.into(),
            actual,
        });
    }
    Ok(())
}

/// A reader that hashes and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Hashes and counts bytes that arrived some other way.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.count += bytes.len() as u64;
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// `sha256:<hex>` of everything read so far.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input_is_the_well_known_one() {
        assert_eq!(
            of_bytes(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hashing_reader_matches_direct_digest() {
        let mut reader = HashingReader::new(&b"hello"[..]);
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        assert_eq!(reader.digest(), of_bytes(b"hello"));
        assert_eq!(reader.count(), 5);
    }

    #[test]
    fn hex_of_refuses_other_algorithms_and_bad_hex() {
        assert!(hex_of("sha512:abcd").is_err());
        assert!(hex_of("sha256:xyz").is_err());
        assert!(hex_of(&of_bytes(b"x")).is_ok());
    }
}
