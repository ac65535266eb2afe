//! Unit tests of notice rendering: subjects, text and HTML bodies, operator templates.

use super::*;
use crate::core::assess::assess;
use crate::core::fixtures::{utc, Ns};
use crate::core::notice::tests::{config, label, notice, EXPIRES, NOW};
use crate::core::plan::{plan_namespace, Lifecycle};
use std::path::PathBuf;

fn builtin() -> Templates {
    Templates::load(None).unwrap()
}

fn idle_signals() -> Vec<Signal> {
    vec![
        Signal {
            signal: "cpu".into(),
            statistic: "highest 5-minute CPU rate over 7d (cores)".into(),
            value: Some(0.002),
            threshold: 0.01,
            status: "below".into(),
            reason: None,
        },
        Signal {
            signal: "network".into(),
            statistic: "highest 5-minute receive+transmit rate over 7d (bytes/s)".into(),
            value: Some(12.0),
            threshold: 1024.0,
            status: "below".into(),
            reason: None,
        },
    ]
}

fn render_with(n: &Notice, config: &Config, templates: &Templates, now: &str) -> Rendered {
    render(n, &RenderContext::new(config, templates, utc(now))).unwrap()
}

fn render_default(n: &Notice) -> Rendered {
    render_with(n, &Config::default(), &builtin(), NOW)
}

/// Text without HTML tags, entities decoded and whitespace collapsed: what a reader sees.
fn visible(body: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// HTML as a reader sees it (minijinja also escapes `/`).
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// A notice, its subject and facts each body must tell.
type Case = (Notice, &'static str, Vec<&'static str>);

#[test]
fn every_kind_has_subject_text_html_commands_and_its_facts() {
    let extend = "kubectl label namespace team-a kube-reclaimer.io/expires=2027-01-15 --overwrite";
    let opt_out = "kubectl label namespace team-a kube-reclaimer.io/expires=never --overwrite";
    let cases = [reminder_and_marked_cases(), reclaimed_and_malformed_cases()].concat();
    for (n, subject, facts) in cases {
        let r = render_default(&n);
        let kind = n.template();
        assert_eq!(r.subject, subject, "{kind}");
        assert!(
            !r.text.starts_with("Subject:") && !r.text.starts_with('\n'),
            "{kind}: {}",
            r.text
        );
        assert!(
            r.html.contains("<html>") && r.html.contains("</html>"),
            "{kind}"
        );
        for body in [visible(&r.text), visible(&r.html)] {
            assert!(body.contains("team-a"), "{kind}: namespace missing");
            assert!(
                body.contains(extend),
                "{kind}: no extend command in\n{body}"
            );
            assert!(
                body.contains(opt_out),
                "{kind}: no opt-out command in\n{body}"
            );
            assert!(
                body.contains("Wed 2026-12-16 10:00 UTC"),
                "{kind}: no mail date"
            );
            for fact in &facts {
                assert!(body.contains(fact), "{kind}: `{fact}` missing in\n{body}");
            }
        }
    }
}

fn reminder_and_marked_cases() -> Vec<Case> {
    vec![
        (
            notice(
                "team-a",
                NoticeKind::Reminder {
                    expires_at: utc("2026-12-23T00:00:00Z"),
                    offset: Span::days(7),
                },
            ),
            "Namespace team-a expires Wed 2026-12-23 00:00 UTC",
            vec![
                "expires on Wed 2026-12-23 00:00 UTC",
                "in 6 days 14 hours",
                "reminder 7d before expiry",
                "no earlier than 3d later",
            ],
        ),
        (
            notice(
                "team-a",
                NoticeKind::Marked {
                    cause: Reason::Expired,
                    reclaim_after: utc("2026-12-19T10:00:00Z"),
                    evidence: Evidence::Expired {
                        at: utc("2026-12-15T00:00:00Z"),
                        source: label(EXPIRES, "2026-12-14"),
                    },
                },
            ),
            "Namespace team-a will be deleted after Sat 2026-12-19 10:00 UTC",
            vec![
                "marked for reclamation",
                "expired on Tue 2026-12-15 00:00 UTC",
                "label kube-reclaimer.io/expires=2026-12-14",
            ],
        ),
        (
            notice(
                "team-a",
                NoticeKind::Marked {
                    cause: Reason::Idle,
                    reclaim_after: utc("2026-12-19T10:00:00Z"),
                    evidence: Evidence::Idle {
                        summary: "idle: CPU and network below thresholds for the whole 7d window"
                            .into(),
                        signals: idle_signals(),
                    },
                },
            ),
            "Namespace team-a will be deleted after Sat 2026-12-19 10:00 UTC",
            vec![
                "has been idle",
                "highest 5-minute CPU rate over 7d (cores)",
                "0.002 cores",
                "0.010 cores",
                "highest 5-minute receive+transmit rate over 7d (bytes/s)",
                "12 B/s",
                "1.00 KiB/s",
                "below",
            ],
        ),
    ]
}

fn reclaimed_and_malformed_cases() -> Vec<Case> {
    vec![
        (
            notice(
                "team-a",
                NoticeKind::Reclaimed {
                    cause: Reason::Idle,
                    at: utc("2026-12-16T09:58:00Z"),
                    tombstone: Some("ConfigMap kube-reclaimer/tombstone-team-a".into()),
                    asleep: false,
                },
            ),
            "Namespace team-a was deleted",
            vec![
                "deleted on Wed 2026-12-16 09:58 UTC",
                "was idle",
                "ConfigMap kube-reclaimer/tombstone-team-a",
                "kubectl create namespace team-a",
            ],
        ),
        (
            notice(
                "team-a",
                NoticeKind::Reclaimed {
                    cause: Reason::Expired,
                    at: utc("2026-12-16T09:58:00Z"),
                    tombstone: None,
                    asleep: true,
                },
            ),
            "Namespace team-a was put to sleep",
            vec![
                "scaled to zero replicas",
                "Nothing was deleted",
                "had expired",
            ],
        ),
        (
            notice(
                "team-a",
                NoticeKind::Malformed {
                    findings: vec![
                        Finding {
                            key: EXPIRES.into(),
                            value: "31-12-2026".into(),
                            problem: "not a date (expected YYYY-MM-DD)".into(),
                        },
                        Finding {
                            key: "kube-reclaimer.io/owner-email".into(),
                            value: "alice".into(),
                            problem: "not an e-mail address".into(),
                        },
                    ],
                },
            ),
            "Values on namespace team-a cannot be read",
            vec![
                "kube-reclaimer.io/expires=31-12-2026",
                "not a date (expected YYYY-MM-DD)",
                "kube-reclaimer.io/owner-email=alice",
                "not an e-mail address",
            ],
        ),
    ]
}

#[test]
fn the_text_reads_as_plain_text() {
    let n = notice(
        "team-a",
        NoticeKind::Reminder {
            expires_at: utc("2026-12-17T00:00:00Z"),
            offset: Span::days(1),
        },
    );
    let r = render_default(&n);
    assert_eq!(
        r.text,
        "Hello,

the Kubernetes namespace team-a expires on Thu 2026-12-17 00:00 UTC,
in 14 hours (this is the reminder 1d before expiry).

After that it will be marked for reclamation and, unless you act, deleted
with everything in it no earlier than 3d later.

Deleting it also destroys what no record keeps:
  - its Secrets, if any: kube-reclaimer never reads Secrets, so its record of the namespace holds none of them

To keep the namespace until 2027-01-15 (one month from now):

    kubectl label namespace team-a kube-reclaimer.io/expires=2027-01-15 --overwrite

To keep it for good (it never expires and is never reclaimed):

    kubectl label namespace team-a kube-reclaimer.io/expires=never --overwrite

Either takes effect at the next check; there is no need to answer this mail.

-- kube-reclaimer, Wed 2026-12-16 10:00 UTC
"
    );
}

#[test]
fn dates_follow_the_configured_zone_and_key_and_the_context_clock() {
    let config = config("time_zone: Pacific/Auckland\nkeys: {expires: example.com/keep-until}");
    let n = Notice {
        namespace: "search".into(),
        expiry_source: None,
        volumes: Some(Volumes::default()),
        kind: NoticeKind::Marked {
            cause: Reason::Idle,
            reclaim_after: utc("2026-12-19T23:30:00Z"),
            evidence: Evidence::Idle {
                summary: "idle".into(),
                signals: idle_signals(),
            },
        },
    };
    // 23:30 UTC is already the next day in Auckland (UTC+13 in December).
    let r = render_with(&n, &config, &builtin(), "2026-12-16T23:30:00Z");
    assert_eq!(
        r.subject,
        "Namespace search will be deleted after Sun 2026-12-20 12:30 NZDT"
    );
    for body in [&r.text, &unescape(&r.html)] {
        assert!(body.contains(
            "kubectl label namespace search example.com/keep-until=2027-01-16 --overwrite"
        ));
        assert!(body
            .contains("kubectl label namespace search example.com/keep-until=never --overwrite"));
        assert!(body.contains("Thu 2026-12-17 12:30 NZDT"), "mail date");
    }
}

#[test]
fn an_expiry_read_from_the_annotation_is_changed_with_kubectl_annotate() {
    // The annotation wins over the label: a label would change nothing.
    let annotated = ExpirySource {
        kind: KeyKind::Annotation,
        key: EXPIRES.into(),
        value: "2026-12-17T18:00:00+01:00".into(),
    };
    let reminder = Notice {
        namespace: "team-a".into(),
        expiry_source: Some(annotated.clone()),
        volumes: Some(Volumes::default()),
        kind: NoticeKind::Reminder {
            expires_at: utc("2026-12-17T17:00:00Z"),
            offset: Span::days(1),
        },
    };
    let r = render_default(&reminder);
    assert!(r.text.contains(
        "kubectl annotate namespace team-a kube-reclaimer.io/expires=2027-01-15 --overwrite"
    ));
    assert!(r
        .text
        .contains("kubectl annotate namespace team-a kube-reclaimer.io/expires=never --overwrite"));
    // A recreated namespace has no annotation: the label is what to set.
    let reclaimed = Notice {
        kind: NoticeKind::Reclaimed {
            cause: Reason::Expired,
            at: utc(NOW),
            tombstone: None,
            asleep: false,
        },
        ..reminder.clone()
    };
    let r = render_default(&reclaimed);
    assert!(r.text.contains("kubectl label namespace team-a"));
    assert!(!r.text.contains("annotate"));
    assert!(!r.text.contains("record of what it held"), "no tombstone");
    // Another tool's annotation loses to our label.
    let janitor = Notice {
        expiry_source: Some(ExpirySource {
            kind: KeyKind::Annotation,
            key: "janitor/expires".into(),
            value: "2026-12-17".into(),
        }),
        ..reminder
    };
    assert!(render_default(&janitor)
        .text
        .contains("kubectl label namespace team-a"));
}

#[test]
fn a_reminder_long_before_expiry_never_offers_a_shorter_life() {
    let n = notice(
        "team-a",
        NoticeKind::Reminder {
            expires_at: utc("2027-03-01T00:00:00Z"),
            offset: Span::days(90),
        },
    );
    let r = render_default(&n);
    assert!(r
        .text
        .contains("kube-reclaimer.io/expires=2027-03-31 --overwrite"));
    assert!(r
        .text
        .contains("until 2027-03-31 (one month past the current expiry)"));
    assert!(r.text.contains("in 74 days 14 hours"));
}

#[test]
fn html_escapes_what_owners_and_the_cluster_wrote() {
    let n = Notice {
        namespace: "a<b>&c".into(),
        expiry_source: None,
        volumes: Some(Volumes::default()),
        kind: NoticeKind::Malformed {
            findings: vec![Finding {
                key: "kube-reclaimer.io/owner-email".into(),
                value: "<script>alert(\"x\")</script>".into(),
                problem: "not an e-mail address".into(),
            }],
        },
    };
    let r = render_default(&n);
    assert!(r.html.contains("a&lt;b&gt;&amp;c"), "{}", r.html);
    assert!(
        r.html
            .contains("&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2f;script&gt;"),
        "{}",
        r.html
    );
    assert!(!r.html.contains("<script>") && !r.html.contains("a<b>"));
    // Plain text and the subject are not HTML: shown as written.
    assert!(r.text.contains("<script>alert(\"x\")</script>"));
    assert_eq!(r.subject, "Values on namespace a<b>&c cannot be read");
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("kube-reclaimer-mail-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_operator_template_replaces_only_its_namesake() {
    let dir = temp_dir("override");
    std::fs::write(
        dir.join("reminder.txt"),
        "Subject: Heads-up: {{ namespace }} ends {{ expires_at }}\n\nRun: {{ commands.extend }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("commands.html"),
        "<p>Extend: <code>{{ commands.extend }}</code> / {{ namespace }}</p>\n",
    )
    .unwrap();
    std::fs::write(dir.join("README.md"), "not a template: ignored").unwrap();
    let config = config(&format!("smtp: {{templates_dir: '{}'}}", dir.display()));
    let templates = Templates::from_config(&config).unwrap();
    assert_eq!(
        templates.overridden("reminder.txt"),
        Some(dir.join("reminder.txt").as_path())
    );
    assert_eq!(templates.overridden("reminder.html"), None);
    let n = notice(
        "team-a",
        NoticeKind::Reminder {
            expires_at: utc("2026-12-23T00:00:00Z"),
            offset: Span::days(7),
        },
    );
    let r = render_with(&n, &config, &templates, NOW);
    assert_eq!(r.subject, "Heads-up: team-a ends Wed 2026-12-23 00:00 UTC");
    assert_eq!(
        r.text,
        "Run: kubectl label namespace team-a kube-reclaimer.io/expires=2027-01-15 --overwrite\n"
    );
    // The built-in HTML, with the operator's commands part inside; still escaped.
    assert!(
        r.html.contains("expires on\n<strong>Wed 2026-12-23"),
        "{}",
        r.html
    );
    assert!(r.html.contains(
        "<p>Extend: <code>kubectl label namespace team-a kube-reclaimer.io&#x2f;expires=2027-01-15"
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_operator_template_is_refused_naming_the_file_and_the_problem() {
    let cases = [
        (
            "marked.html",
            "<p>{% if cause %}unclosed</p>",
            "unexpected end of input",
        ),
        (
            "malformed.txt",
            "Subject: x\n\n{{ no_such_value }}\n",
            "undefined value",
        ),
        (
            "reclaimed.txt",
            "Deleted {{ namespace }}\n",
            "must start with a line `Subject: ...`",
        ),
        ("commands.txt", "{{ commands.nope }}", "undefined value"),
    ];
    for (name, text, problem) in cases {
        let dir = temp_dir("broken");
        std::fs::write(dir.join(name), text).unwrap();
        let err = Templates::load(Some(&dir)).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, TemplatesError::Template { .. }),
            "{name}: {err:?}"
        );
        for part in [dir.join(name).display().to_string(), problem.to_string()] {
            assert!(
                message.contains(&part),
                "{name}: `{part}` missing in: {message}"
            );
        }
        assert!(message.contains("smtp.templates_dir"), "{message}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    let dir = temp_dir("unknown");
    std::fs::write(dir.join("reminder.text.txt"), "Subject: x\n").unwrap();
    let message = Templates::load(Some(&dir)).unwrap_err().to_string();
    assert!(
        message.starts_with("smtp.templates_dir: ")
            && message.contains("`reminder.text.txt` is not a template name")
            && message.contains("reminder.txt, reminder.html"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    let missing = std::env::temp_dir().join("kube-reclaimer-no-such-templates-dir");
    let message = Templates::load(Some(&missing)).unwrap_err().to_string();
    assert!(
        message.contains("smtp.templates_dir") && message.contains("no-such-templates-dir"),
        "{message}"
    );
}

#[test]
fn a_missing_signal_says_why() {
    let mut signals = idle_signals();
    signals[1].value = None;
    signals[1].status = "missing".into();
    signals[1].reason = Some("no series for the namespace".into());
    let n = notice(
        "team-a",
        NoticeKind::Marked {
            cause: Reason::Idle,
            reclaim_after: utc(NOW),
            evidence: Evidence::Idle {
                summary: "idle".into(),
                signals,
            },
        },
    );
    let r = render_default(&n);
    assert!(r.text.contains(
        "bytes/s): unknown (no series for the namespace), threshold 1.00 KiB/s (missing)"
    ));
}

#[test]
fn human_durations() {
    for (minutes, text) in [
        (0, "0 minutes"),
        (1, "1 minute"),
        (59, "59 minutes"),
        (60, "1 hour"),
        (61, "1 hour"),
        (24 * 60, "1 day"),
        (25 * 60, "1 day 1 hour"),
        (7 * 24 * 60, "7 days"),
        (-5, "0 minutes"),
    ] {
        assert_eq!(human(TimeDelta::minutes(minutes)), text);
    }
}

#[test]
fn every_notice_of_a_deletion_says_which_volumes_and_secrets_it_destroys() {
    let config = config(
        "mode: enforce
owners: {fallback_recipients: [platform@example.com]}
lifecycle: {reclaim_with_volumes: {idle: true}}",
    );
    let now = utc(NOW);
    let gib = crate::core::fixtures::GIB;
    let ns = || {
        Ns::new("db")
            .unused()
            .volume("data", 10.0 * gib, "standard", "Delete")
            .volume("archive", 2.0 * gib, "slow", "Retain")
    };
    let a = assess(&ns().build(), &config, now);
    let actions = plan_namespace(&a, &Lifecycle::default(), &config, now).actions;
    let marked = Notice::for_action(&a, &actions[0]).unwrap();
    let reminder = Notice {
        kind: NoticeKind::Reminder {
            expires_at: utc("2026-12-23T00:00:00Z"),
            offset: Span::days(7),
        },
        ..marked.clone()
    };
    let deleted = Notice::reclaimed(&a, Reason::Idle, now, None, false);
    let claims = [
        "2 PersistentVolumeClaims (2 bound), 12.00 GiB in all:",
        "claim data: 10.00 GiB, StorageClass standard, reclaim policy Delete: the volume and its data are deleted",
        "claim archive: 2.00 GiB, StorageClass slow, reclaim policy Retain: the volume is kept, claimed by nothing",
        "its Secrets, if any: kube-reclaimer never reads Secrets, so its record of the namespace holds none of them",
    ];
    for n in [&marked, &reminder, &deleted] {
        let r = render_default(n);
        for line in claims {
            assert!(
                r.text.contains(line),
                "{line} in {}:\n{}",
                n.template(),
                r.text
            );
            assert!(
                visible(&r.html).contains(line),
                "{line} in {} html",
                n.template()
            );
        }
    }
    // Put to sleep, nothing is deleted: nothing to list.
    let asleep = render_default(&Notice::reclaimed(&a, Reason::Idle, now, None, true));
    assert!(
        !asleep.text.contains("PersistentVolumeClaim"),
        "{}",
        asleep.text
    );
    // Claims that could not be listed are not "none".
    let unknown = assess(&ns().volumes_unknown().build(), &config, now);
    let r = render_default(&Notice::reclaimed(
        &unknown,
        Reason::Expired,
        now,
        None,
        false,
    ));
    assert!(
        r.text.contains("its PersistentVolumeClaims could not be listed: any volume it holds may be deleted with it"),
        "{}",
        r.text
    );
}

#[test]
fn an_idle_mark_shows_each_signal_the_assessment_measured_with_its_unit() {
    let config = config(
        "mode: enforce
owners: {fallback_recipients: [platform@example.com]}",
    );
    let now = utc(NOW);
    let a = assess(&Ns::new("quiet").unused().build(), &config, now);
    let actions = plan_namespace(&a, &Lifecycle::default(), &config, now).actions;
    let n = Notice::for_action(&a, &actions[0]).unwrap();
    let r = render_default(&n);
    assert!(
        r.text.contains("0.001 cores") && r.text.contains("10 B/s"),
        "{}",
        r.text
    );
}
