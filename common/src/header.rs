//! The daemon's BlockHeader and the 112-byte MinerWork. Placeholder: being written.
