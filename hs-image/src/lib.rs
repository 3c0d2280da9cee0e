//! Image store: import, load, pull, ls, rm, commit, export, lowerdirs
