//! The attach socket's messages. The socket is SOCK_SEQPACKET, so one
//! message is one packet and needs no framing beyond its first byte, the
//! type; integers are little-endian.
//!
//! client → monitor: `h` + u32 tail bytes (hello, sent first: replay up to
//! that many bytes of past output), `i` + bytes (input), `w` + u16 rows +
//! u16 cols (window size), `c` (the client's input ended).
//! monitor → client: `o` + bytes (stdout or the terminal), `e` + bytes
//! (stderr, pipe mode), `x` + i32 (the program's exit code; the monitor
//! closes the connection after it).

use hs_common::console::WindowSize;

/// Largest payload of one output message.
pub const MAX_DATA: usize = 64 * 1024;
/// A receive buffer that holds any monitor message whole.
pub const MAX_PACKET: usize = MAX_DATA + 16;
/// Largest payload of one input message (typing comes in bytes; a paste is
/// split): keeps the monitor's receive buffer small.
pub const MAX_INPUT: usize = 4096;
/// A receive buffer that holds any client message whole.
pub const MAX_CLIENT_PACKET: usize = MAX_INPUT + 16;

pub const HELLO: u8 = b'h';
pub const INPUT: u8 = b'i';
pub const RESIZE: u8 = b'w';
pub const INPUT_CLOSED: u8 = b'c';
pub const STDOUT: u8 = b'o';
pub const STDERR: u8 = b'e';
pub const EXIT: u8 = b'x';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMsg<'a> {
    Hello { tail_bytes: u32 },
    Input(&'a [u8]),
    Resize(WindowSize),
    InputClosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMsg<'a> {
    Stdout(&'a [u8]),
    Stderr(&'a [u8]),
    Exit(i32),
}

impl ClientMsg<'_> {
    pub fn encode(&self) -> Vec<u8> {
        match *self {
            ClientMsg::Hello { tail_bytes } => tagged(HELLO, &tail_bytes.to_le_bytes()),
            ClientMsg::Input(data) => tagged(INPUT, data),
            ClientMsg::Resize(size) => {
                let mut packet = vec![RESIZE];
                packet.extend_from_slice(&size.rows.to_le_bytes());
                packet.extend_from_slice(&size.cols.to_le_bytes());
                packet
            }
            ClientMsg::InputClosed => vec![INPUT_CLOSED],
        }
    }

    /// None for a packet no client sends (the monitor ignores it).
    pub fn decode(packet: &[u8]) -> Option<ClientMsg<'_>> {
        let (&tag, rest) = packet.split_first()?;
        Some(match tag {
            HELLO => ClientMsg::Hello {
                tail_bytes: u32::from_le_bytes(rest.try_into().ok()?),
            },
            INPUT => ClientMsg::Input(rest),
            RESIZE if rest.len() == 4 => ClientMsg::Resize(WindowSize {
                rows: u16::from_le_bytes([rest[0], rest[1]]),
                cols: u16::from_le_bytes([rest[2], rest[3]]),
            }),
            INPUT_CLOSED => ClientMsg::InputClosed,
            _ => return None,
        })
    }
}

impl ServerMsg<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut packet = Vec::new();
        self.encode_into(&mut packet);
        packet
    }

    /// Encodes into a reused buffer (the monitor's hot path: once per
    /// chunk of output, whatever the number of clients).
    pub fn encode_into(&self, packet: &mut Vec<u8>) {
        packet.clear();
        let (tag, payload) = match self {
            ServerMsg::Stdout(data) => (STDOUT, *data),
            ServerMsg::Stderr(data) => (STDERR, *data),
            ServerMsg::Exit(code) => {
                packet.push(EXIT);
                packet.extend_from_slice(&code.to_le_bytes());
                return;
            }
        };
        packet.push(tag);
        packet.extend_from_slice(payload);
    }

    pub fn decode(packet: &[u8]) -> Option<ServerMsg<'_>> {
        let (&tag, rest) = packet.split_first()?;
        Some(match tag {
            STDOUT => ServerMsg::Stdout(rest),
            STDERR => ServerMsg::Stderr(rest),
            EXIT => ServerMsg::Exit(i32::from_le_bytes(rest.try_into().ok()?)),
            _ => return None,
        })
    }
}

fn tagged(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(1 + payload.len());
    packet.push(tag);
    packet.extend_from_slice(payload);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_round_trip() {
        let size = WindowSize {
            rows: 40,
            cols: 132,
        };
        for msg in [
            ClientMsg::Hello { tail_bytes: 65536 },
            ClientMsg::Input(b"ls\r"),
            ClientMsg::Resize(size),
            ClientMsg::InputClosed,
        ] {
            assert_eq!(ClientMsg::decode(&msg.encode()), Some(msg));
        }
    }

    #[test]
    fn server_messages_round_trip() {
        for msg in [
            ServerMsg::Stdout(b"out"),
            ServerMsg::Stderr(b"err"),
            ServerMsg::Exit(-1),
            ServerMsg::Exit(137),
        ] {
            assert_eq!(ServerMsg::decode(&msg.encode()), Some(msg));
        }
    }

    #[test]
    fn malformed_packets_decode_to_nothing() {
        assert_eq!(ClientMsg::decode(b""), None);
        assert_eq!(ClientMsg::decode(b"w\x01"), None);
        assert_eq!(ClientMsg::decode(b"?"), None);
        assert_eq!(ServerMsg::decode(b"x\x01\x02"), None);
    }
}
