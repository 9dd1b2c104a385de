//! Shared test support.
#![allow(dead_code)]

pub mod sandbox;
pub mod seeds;
