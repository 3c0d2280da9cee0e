//! Run commands in containers that are copy-on-write copies of the host or images
