//! The container monitor: PTY or pipes, attach socket, log, exit file; the attach client
