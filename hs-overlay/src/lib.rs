//! Mount an overlay (image or host mirror) and chain; diff an upper dir
