//! Fake collector (in progress).
