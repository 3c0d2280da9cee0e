//! New or joined namespaces, PID-1 init, rootfs setup and pivot_root, then chain
