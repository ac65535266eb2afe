//! Unit tests of the SMTP adapter: setup errors name their config key.

use super::*;
use std::path::PathBuf;

fn config(yaml: &str) -> Config {
    Config::from_yaml(yaml, "test").unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("kube-reclaimer-mail-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn mailer_setup_errors_name_the_config_key() {
    let missing = "/nonexistent/kube-reclaimer/smtp-password";
    let err = Mailer::new(&config(&format!(
        "smtp: {{username: u, password_file: {missing}}}"
    )))
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("smtp.password_file: cannot read") && err.contains(missing),
        "{err}"
    );

    let dir = temp_dir("password");
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let err = Mailer::new(&config(&format!(
        "smtp: {{username: u, password_file: '{}'}}",
        empty.display()
    )))
    .unwrap_err()
    .to_string();
    assert!(err.contains("is empty"), "{err}");

    let err = Mailer::new(&config(
        "smtp: {username: u, password_env: KUBE_RECLAIMER_TEST_SURELY_UNSET}",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "smtp.password_env: the environment variable `KUBE_RECLAIMER_TEST_SURELY_UNSET`"
        ),
        "{err}"
    );

    let not_pem = dir.join("ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let err = Mailer::new(&config(&format!(
        "smtp: {{ca_file: '{}'}}",
        not_pem.display()
    )))
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("smtp.ca_file: cannot use") && err.contains("no PEM certificate"),
        "{err}"
    );
    let err = Mailer::new(&config("smtp: {ca_file: /nonexistent/ca.pem}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("smtp.ca_file: cannot use `/nonexistent/ca.pem`"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // Without credentials or CA the setup needs nothing from outside.
    Mailer::new(&Config::default()).unwrap();
}

#[tokio::test]
async fn sending_to_nobody_or_to_a_bad_address_is_an_error_before_any_connection() {
    // Nothing listens on port 9 of 127.0.0.1: a connection attempt would say so instead.
    let mailer = Mailer::new(&config("smtp: {host: 127.0.0.1, port: 9, tls: none}")).unwrap();
    let r = Rendered {
        subject: "s".into(),
        text: "t".into(),
        html: "<p>h</p>".into(),
    };
    assert!(matches!(
        mailer.send(&[], &r).await,
        Err(MailError::NoRecipients)
    ));
    let err = mailer
        .send(&["not an address".into()], &r)
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Address { .. }), "{err}");
    let err = mailer
        .send(&["a@example.com".into()], &r)
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().starts_with(
            "mail not sent: cannot deliver to the SMTP server 127.0.0.1:9 (smtp.tls none)"
        ),
        "{err}"
    );
}
