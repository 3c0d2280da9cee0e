//! Opening an archive by content, not by name: gzip is recognised by its
//! magic, a tar by its header checksum; anything else is refused before a
//! byte is written.

use std::io::{BufReader, Cursor, Read};
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// The size of one tar block (and of the sniffed prefix).
const BLOCK: usize = 512;
/// Big reads keep syscalls off the extraction profile.
const BUFFER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// An uncompressed tar stream from `path` (`-` = stdin), gzip or not.
pub fn open_tar(path: &Path) -> Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).ctx("open", path)?)
    };
    tar_stream(
        BufReader::with_capacity(BUFFER, raw),
        &path.display().to_string(),
    )
}

/// Wraps an archive stream: sniffs its start, decompresses when needed and
/// checks that what comes out starts like a tar.
pub fn tar_stream<R: Read + Send + 'static>(raw: R, name: &str) -> Result<Box<dyn Read + Send>> {
    let (head, raw) = peek(raw, BLOCK).ctx("read", name)?;
    match compression_of(&head, name)? {
        Compression::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(raw);
            let (head, decoded) = peek(decoder, BLOCK)
                .map_err(|e| Error::BadArchive(name.into(), format!("bad gzip data: {e}")))?;
            check_tar_header(&head, name)?;
            Ok(Box::new(BufReader::with_capacity(BUFFER, decoded)))
        }
        Compression::None => {
            check_tar_header(&head, name)?;
            Ok(Box::new(raw))
        }
    }
}

/// Which compression the stream starting with `head` uses.
pub fn compression_of(head: &[u8], name: &str) -> Result<Compression> {
    let unsupported = |what: &str| {
        Err(Error::BadArchive(
            name.into(),
            format!("{what} compression is not supported (use tar or tar.gz)"),
        ))
    };
    match head {
        [0x1f, 0x8b, ..] => Ok(Compression::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => unsupported("zstd"),
        [b'B', b'Z', b'h', ..] => unsupported("bzip2"),
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => unsupported("xz"),
        _ => Ok(Compression::None),
    }
}

/// A tar starts with a header block whose checksum field matches its bytes
/// (this accepts v7, ustar and GNU tars, and rejects text or junk).
pub fn check_tar_header(head: &[u8], name: &str) -> Result<()> {
    let not_tar = |why: &str| Err(Error::BadArchive(name.into(), why.into()));
    if head.is_empty() {
        return not_tar("empty input");
    }
    if head.len() < BLOCK {
        return not_tar("too short for a tar archive");
    }
    if head.iter().all(|&b| b == 0) {
        // An empty tar is only end-of-archive blocks: valid, no entries.
        return Ok(());
    }
    let field = &head[148..156];
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .map(|&b| b as char)
        .collect();
    let Ok(recorded) = u32::from_str_radix(text.trim(), 8) else {
        return not_tar("no tar header");
    };
    let sum: u32 = head[..BLOCK]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    if sum != recorded {
        return not_tar("bad tar header checksum");
    }
    Ok(())
}

/// Reads up to `n` bytes from the start of `reader` without losing them.
fn peek<R: Read>(mut reader: R, n: usize) -> std::io::Result<(Vec<u8>, impl Read)> {
    let mut head = Vec::with_capacity(n);
    (&mut reader).take(n as u64).read_to_end(&mut head)?;
    Ok((head.clone(), Cursor::new(head).chain(reader)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_tar() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, "a", &b"hi"[..]).unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn plain_tar_is_accepted() {
        let mut out = Vec::new();
        tar_stream(Cursor::new(tiny_tar()), "t")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, tiny_tar());
    }

    #[test]
    fn gzip_is_detected_by_content() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tiny_tar()).unwrap();
        let mut out = Vec::new();
        tar_stream(Cursor::new(gz.finish().unwrap()), "t")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, tiny_tar());
    }

    #[test]
    fn text_is_not_a_tar() {
        let junk = vec![b'x'; 4096];
        assert!(matches!(
            tar_stream(Cursor::new(junk), "t"),
            Err(Error::BadArchive(..))
        ));
        assert!(tar_stream(Cursor::new(Vec::new()), "t").is_err());
    }

    #[test]
    fn zstd_is_refused_with_a_clear_reason() {
        let err = tar_stream(Cursor::new(vec![0x28, 0xb5, 0x2f, 0xfd, 0, 0]), "t")
            .err()
            .unwrap();
        assert!(err.to_string().contains("zstd"));
    }
}
