//! E-mails and reports as text and HTML, rendered from minijinja templates.

pub mod report;
pub mod templates;
