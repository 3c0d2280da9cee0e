//! Fixtures for the black-box tests: binaries, busybox rootfs, HS_ROOT, root guard, leak checks.
