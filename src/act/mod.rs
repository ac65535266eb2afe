//! The act stage: carries out a plan.

pub mod mail;
