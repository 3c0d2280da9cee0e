//! The output history: the last N bytes of output, replayed to a client
//! that asks for them on attach (`--tail-bytes`) so a redraw has context.
//! Memory grows only as output arrives, up to the bound.

pub struct Ring {
    buf: Vec<u8>,
    cap: usize,
    /// Index of the oldest byte once the buffer is full (0 before).
    head: usize,
}

impl Ring {
    pub fn new(cap: usize) -> Self {
        Self {
            buf: Vec::new(),
            cap,
            head: 0,
        }
    }

    pub fn push(&mut self, mut data: &[u8]) {
        if self.cap == 0 {
            return;
        }
        if data.len() >= self.cap {
            self.buf.clear();
            self.buf.extend_from_slice(&data[data.len() - self.cap..]);
            self.head = 0;
            return;
        }
        let room = self.cap - self.buf.len();
        if room > 0 {
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        while !data.is_empty() {
            let n = (self.cap - self.head).min(data.len());
            self.buf[self.head..self.head + n].copy_from_slice(&data[..n]);
            self.head = (self.head + n) % self.cap;
            data = &data[n..];
        }
    }

    /// The last `n` bytes (fewer if fewer were kept), as two slices in order.
    pub fn tail(&self, n: usize) -> (&[u8], &[u8]) {
        let (first, second) = (&self.buf[self.head..], &self.buf[..self.head]);
        let skip = self.buf.len() - n.min(self.buf.len());
        if skip < first.len() {
            (&first[skip..], second)
        } else {
            (&second[skip - first.len()..], &[])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(ring: &Ring, n: usize) -> Vec<u8> {
        let (a, b) = ring.tail(n);
        [a, b].concat()
    }

    #[test]
    fn keeps_everything_below_the_bound() {
        let mut ring = Ring::new(8);
        ring.push(b"abc");
        ring.push(b"de");
        assert_eq!(tail(&ring, 100), b"abcde");
        assert_eq!(tail(&ring, 2), b"de");
    }

    #[test]
    fn keeps_the_newest_bytes_when_wrapping() {
        let mut ring = Ring::new(4);
        ring.push(b"abc");
        ring.push(b"def");
        assert_eq!(tail(&ring, 4), b"cdef");
        ring.push(b"g");
        assert_eq!(tail(&ring, 3), b"efg");
        assert_eq!(tail(&ring, 10), b"defg");
    }

    #[test]
    fn a_chunk_larger_than_the_bound_keeps_its_end() {
        let mut ring = Ring::new(3);
        ring.push(b"x");
        ring.push(b"123456");
        assert_eq!(tail(&ring, 3), b"456");
    }
}
