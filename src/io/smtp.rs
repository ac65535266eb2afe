//! The SMTP server: the transport (lettre) set up from `smtp`, with the password read
//! from `smtp.password_file` or `smtp.password_env` and the CA from `smtp.ca_file`, and
//! sending a rendered mail. It decides nothing about what a mail says or to whom.
//!
//! [`Mailer`] sends a rendered mail as multipart/alternative (text + HTML) from
//! `smtp.from`, inside multipart/mixed when files are attached (the weekly reports'
//! CSV); `send` returns `Ok` only once the server accepted the message, which is when a
//! mail counts as sent.

use crate::core::config::{Config, SmtpTls};
use crate::core::notice::{Rendered, Tags};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// A file sent along with a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// e.g. `text/csv; charset=utf-8`.
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Sends rendered mail over SMTP as configured in `smtp`.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port (tls mode)`, for messages.
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Reads the password (`smtp.password_file` or the variable `smtp.password_env`) and
    /// the CA file (`smtp.ca_file`), and sets up the transport. Connects to nothing yet.
    pub fn new(config: &Config) -> Result<Mailer, MailError> {
        let s = &config.smtp;
        let mode = match s.tls {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "none",
        };
        let server = format!("{}:{} (smtp.tls {mode})", s.host, s.port);
        let from: Mailbox = s.from.as_str().parse().map_err(|e| MailError::Address {
            key: "smtp.from".into(),
            address: s.from.to_string(),
            detail: format!("{e}"),
        })?;
        let tls = match s.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls | SmtpTls::Tls => {
                let mut params = TlsParameters::builder(s.host.clone());
                if let Some(path) = &s.ca_file {
                    params = params.add_root_certificate(read_ca(path)?);
                }
                let params = params.build_rustls().map_err(|e| MailError::Tls {
                    host: s.host.clone(),
                    detail: chain(&e),
                })?;
                if s.tls == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(
                s.timeout.as_seconds().max(1).unsigned_abs(),
            )));
        match (&s.username, password(config)?) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password));
            }
            (Some(_), None) => {
                return Err(MailError::Password {
                    key: "smtp.username".into(),
                    detail: "a user name is set, but neither smtp.password_file nor smtp.password_env; set one, or remove the user name for a server without authentication".into(),
                })
            }
            (None, _) => {}
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            server,
        })
    }

    /// Sends `rendered` to `recipients` (all in `To`). `Ok` only when the server accepted
    /// the message; any refusal, connection, TLS or authentication failure is an error
    /// and the mail counts as not sent.
    pub async fn send(&self, recipients: &[String], rendered: &Rendered) -> Result<(), MailError> {
        self.send_with(recipients, rendered, &[]).await
    }

    /// Like [`Mailer::send`], with the notice's Message-ID and header fields.
    pub async fn send_tagged(
        &self,
        recipients: &[String],
        rendered: &Rendered,
        tags: &Tags,
    ) -> Result<(), MailError> {
        self.send_full(recipients, rendered, &[], Some(tags)).await
    }

    /// The domain of `smtp.from`, for Message-IDs.
    pub fn domain(&self) -> String {
        self.from.email.domain().to_string()
    }

    /// Like [`Mailer::send`], with files attached: the message is then multipart/mixed,
    /// the text and HTML alternatives first, then each attachment.
    pub async fn send_with(
        &self,
        recipients: &[String],
        rendered: &Rendered,
        attachments: &[Attachment],
    ) -> Result<(), MailError> {
        self.send_full(recipients, rendered, attachments, None)
            .await
    }

    async fn send_full(
        &self,
        recipients: &[String],
        rendered: &Rendered,
        attachments: &[Attachment],
        tags: Option<&Tags>,
    ) -> Result<(), MailError> {
        if recipients.is_empty() {
            return Err(MailError::NoRecipients);
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(rendered.subject.clone())
            .message_id(tags.map(|t| t.message_id.clone()))
            // RFC 3834: no vacation or out-of-office replies to this daemon.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ));
        for (name, value) in tags.map_or(&[][..], |t| &t.headers[..]) {
            let name =
                HeaderName::new_from_ascii(name.clone()).map_err(|_| MailError::Message {
                    detail: format!("`{name}` is not a header name"),
                })?;
            builder = builder.raw_header(HeaderValue::new(name, value.clone()));
        }
        for r in recipients {
            let to: Mailbox = r.parse().map_err(|e| MailError::Address {
                key: "recipient".into(),
                address: r.clone(),
                detail: format!("{e}"),
            })?;
            builder = builder.to(to);
        }
        let alternative =
            MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone());
        let body = if attachments.is_empty() {
            alternative
        } else {
            let mut mixed = MultiPart::mixed().multipart(alternative);
            for a in attachments {
                let content_type =
                    ContentType::parse(&a.content_type).map_err(|e| MailError::Message {
                        detail: format!("attachment {}: {e}", a.filename),
                    })?;
                mixed = mixed.singlepart(
                    lettre::message::Attachment::new(a.filename.clone())
                        .body(a.body.clone(), content_type),
                );
            }
            mixed
        };
        let message = builder.multipart(body).map_err(|e| MailError::Message {
            detail: e.to_string(),
        })?;
        let response = self
            .transport
            .send(message)
            .await
            .map_err(|e| self.failure(&e))?;
        if response.is_positive() {
            Ok(())
        } else {
            Err(MailError::Rejected {
                server: self.server.clone(),
                detail: format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
            })
        }
    }

    fn failure(&self, e: &lettre::transport::smtp::Error) -> MailError {
        let server = self.server.clone();
        let detail = chain(e);
        let code = e.status().map(u16::from);
        let auth = matches!(code, Some(530 | 534 | 535 | 538))
            || (e.is_client() && detail.contains("authentication"));
        if auth {
            MailError::Auth { server, detail }
        } else if code.is_some() {
            MailError::Rejected { server, detail }
        } else {
            MailError::Unreachable { server, detail }
        }
    }
}

fn password(config: &Config) -> Result<Option<String>, MailError> {
    let s = &config.smtp;
    let error = |key: &str, detail: String| MailError::Password {
        key: key.into(),
        detail,
    };
    let password = if let Some(path) = &s.password_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            error(
                "smtp.password_file",
                format!("cannot read `{path}`: {e}; mount the password there (e.g. from a Secret) or fix the path"),
            )
        })?;
        let password = text.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            return Err(error(
                "smtp.password_file",
                format!("`{path}` is empty; it must hold the SMTP password"),
            ));
        }
        password
    } else if let Some(name) = &s.password_env {
        match std::env::var(name) {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => {
                return Err(error(
                    "smtp.password_env",
                    format!("the environment variable `{name}` is empty; it must hold the SMTP password"),
                ))
            }
            Err(e) => {
                return Err(error(
                    "smtp.password_env",
                    format!("the environment variable `{name}` cannot be read ({e}); set it to the SMTP password"),
                ))
            }
        }
    } else {
        return Ok(None);
    };
    Ok(Some(password))
}

fn read_ca(path: &str) -> Result<Certificate, MailError> {
    let error = |detail: String| MailError::CaFile {
        path: path.to_string(),
        detail,
    };
    let pem = std::fs::read(path).map_err(|e| error(format!("cannot read it: {e}")))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(error(
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Certificate::from_pem(&pem).map_err(|e| error(chain(&e)))
}

/// An error and its sources, joined with `: `, without repeats (lettre nests
/// "Connection error: Connection error: ...").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    let mut parts: Vec<&str> = out.split(": ").collect();
    parts.dedup();
    parts.join(": ")
}

/// Why a mail could not be sent, or the SMTP transport not set up. Each message says
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{key}: {detail}")]
    Password { key: String, detail: String },
    #[error(
        "smtp.ca_file: cannot use `{path}`: {detail}; it must be a PEM file of CA certificates"
    )]
    CaFile { path: String, detail: String },
    #[error("{key}: `{address}` is not an address a mail can be sent to/from ({detail})")]
    Address {
        key: String,
        address: String,
        detail: String,
    },
    #[error("no recipients: a mail needs at least one address")]
    NoRecipients,
    #[error("cannot build the message: {detail}")]
    Message { detail: String },
    #[error("cannot set up TLS for smtp.host `{host}`: {detail}")]
    Tls { host: String, detail: String },
    #[error("mail not sent: cannot deliver to the SMTP server {server}: {detail}; check smtp.host, smtp.port, smtp.tls (and smtp.ca_file for a private CA), and that the server is up")]
    Unreachable { server: String, detail: String },
    #[error("mail not sent: authentication with the SMTP server {server} failed: {detail}; check smtp.username and the password in smtp.password_file or smtp.password_env")]
    Auth { server: String, detail: String },
    #[error("mail not sent: the SMTP server {server} refused it: {detail}")]
    Rejected { server: String, detail: String },
}

#[cfg(test)]
mod tests;
