//! `lambda-sim`: everything a test needs around the extension and nothing of
//! the extension itself: a simulated Lambda platform (`lambda`), a scripted New
//! Relic agent writing the pipe (`agent`), a fake New Relic collector with
//! fault injection (`collector`), and the small HTTP/1.1 server and client
//! they share (`http`). It never talks to the internet.
#![deny(unsafe_code)]

pub mod agent;
pub mod collector;
pub mod http;
pub mod lambda;
pub mod util;
