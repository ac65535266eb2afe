//! The pure core: everything that decides, as functions over plain data. Nothing here
//! does I/O, awaits, or depends on the Kubernetes, SMTP or HTTP libraries.

pub mod assess;
pub mod collected;
pub mod config;
pub mod evaluate;
pub mod fixtures;
pub mod format;
pub mod ledger;
pub mod model;
pub mod notice;
pub mod plan;
pub mod query;
pub mod report;
