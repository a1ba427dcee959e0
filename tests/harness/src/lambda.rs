//! Simulated Lambda platform (being written by another helper).
