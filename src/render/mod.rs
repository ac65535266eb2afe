//! E-mails and reports as text and HTML, rendered from minijinja templates.

pub mod notice;
pub mod report;
pub mod templates;
