//! The reports as rendered: text, HTML, CSV, subjects and file names, from reports built
//! with the helpers of `core::report`'s tests.

use super::{render, ReportMail, Templates};
use crate::core::config::Config;
use crate::core::fixtures::{utc, v, Ns, GIB};
use crate::core::ledger::Ledger;
use crate::core::model::Sample;
use crate::core::plan::Reason;
use crate::core::report::csv::field;
use crate::core::report::sample::sample as report_sample;
use crate::core::report::tests::{
    config, entry, evaluation, ledger, names, team, AT, CPU_PRICE, EXPIRES, MEM_PRICE, TEAM,
};
use crate::core::report::{build, week, Event, ReclaimedList, Reports, CSV_COLUMNS};
use chrono::{DateTime, TimeDelta, Utc};

/// HTML with the entities the templates produce turned back into characters.
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn rendered(reports: &Reports, config: &Config) -> Vec<ReportMail> {
    render(reports, &Templates::load(None).unwrap(), config).unwrap()
}

/// A small RFC 4180 reader: records of fields.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => assert_eq!(chars.next(), Some('\n'), "CR without LF"),
            (false, '\n') => panic!("a bare LF ends a record: {text:?}"),
            (false, c) => field.push(c),
        }
        if !quoted && c == '\r' {
            record.push(std::mem::take(&mut field));
            records.push(std::mem::take(&mut record));
        }
    }
    assert!(field.is_empty() && record.is_empty(), "no CRLF at the end");
    records
}

fn column<'a>(records: &'a [Vec<String>], namespace: &str, name: &str) -> &'a str {
    let i = CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    let row = records
        .iter()
        .find(|r| r[0] == namespace)
        .unwrap_or_else(|| panic!("{namespace} not in the CSV"));
    &row[i]
}
#[test]
fn every_configured_team_gets_its_namespaces_and_the_rest_go_to_the_fallback_report() {
    let c = config("");
    let e = evaluation(
        vec![
            team("pay-api", "payments").build(),
            team("pay-batch", "payments").build(),
            team("search-index", "search").build(),
            team("storefront", "storefront").build(),
            Ns::new("loose").build(),
            // Protected namespaces are reported for cost too.
            Ns::new("kube-system").label(TEAM, "payments").build(),
        ],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    let groups: Vec<(String, Vec<&str>, Vec<String>)> = r
        .teams
        .iter()
        .map(|t| {
            let mut n = names(&t.rows);
            n.sort();
            (t.group.name().to_string(), n, t.recipients.clone())
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            (
                "payments".to_string(),
                vec!["kube-system", "pay-api", "pay-batch"],
                vec!["pay@example.com".to_string()]
            ),
            (
                "search".to_string(),
                vec!["search-index"],
                vec![
                    "search@example.com".to_string(),
                    "search-lead@example.com".to_string()
                ]
            ),
            (
                "unassigned".to_string(),
                vec!["loose", "storefront"],
                vec!["platform@example.com".to_string()]
            ),
        ]
    );
    assert_eq!(
        r.empty_teams,
        vec!["ghosts"],
        "a team with no namespace gets no report"
    );
    assert_eq!(r.finops.rows.len(), 6);
    assert_eq!(r.finops.recipients, vec!["finops@example.com"]);
    let mails = rendered(&r, &c);
    let files: Vec<&str> = mails.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        files,
        ["team-payments", "team-search", "unassigned", "finops"]
    );
    assert!(mails[0].text.contains("kube-system") && mails[0].html.contains("protected"));
}

#[test]
fn teams_and_namespaces_are_ranked_by_waste_unknown_last() {
    let c = config("");
    // Requests 1 core and 2 GiB each; usage 0.5 cores and 1 GiB unless set.
    let e = evaluation(
        vec![
            team("small", "search")
                .requests(1, 0.6, 2.0 * GIB)
                .memory(v(2.0 * GIB))
                .build(),
            team("big", "payments").requests(4, 8.0, 16.0 * GIB).build(),
            team("middle", "search").requests(2, 2.0, 2.0 * GIB).build(),
            Ns::new("unknown-usage").prometheus_down().build(),
        ],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    assert_eq!(
        names(&r.finops.rows),
        ["big", "middle", "small", "unknown-usage"]
    );
    assert_eq!(names(&r.finops.top), ["big", "middle", "small"]);
    let ranked: Vec<&str> = r.finops.groups.iter().map(|g| g.group.name()).collect();
    assert_eq!(ranked, ["payments", "search", "unassigned"]);
    let search = &r.finops.groups[1].totals;
    let by_hand = (2.0 - 0.5) * CPU_PRICE + (2.0 - 1.0) * MEM_PRICE + (0.6 - 0.5) * CPU_PRICE;
    assert!((search.waste_per_hour.exact().unwrap() - by_hand).abs() < 1e-12);
    let finops = rendered(&r, &c).pop().unwrap();
    let position = |s: &str| finops.text.find(s).unwrap();
    assert!(
        position("payments") < position("search") && position("search") < position("unassigned")
    );
}

#[test]
fn unknown_usage_is_written_unknown_never_as_zero() {
    let c = config("");
    let e = evaluation(
        vec![
            team("pay-a", "payments").prometheus_down().build(),
            team("pay-b", "payments").prometheus_down().build(),
        ],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    let t = &r.teams[0].totals;
    assert_eq!(t.waste_per_hour.exact(), None);
    assert_eq!(
        t.waste_per_hour.at_least(),
        None,
        "nothing known: no lower bound"
    );
    assert!(t.requested_per_hour.exact().is_some(), "requests are known");
    let mail = &rendered(&r, &c)[0];
    assert!(
        mail.subject
            .ends_with("USD/h requested, unknown USD/h waste"),
        "{}",
        mail.subject
    );
    for body in [&mail.text, &unescape(&mail.html)] {
        assert!(body.contains("Usage is unknown for 2 of 2 namespaces: Prometheus unavailable (connection refused)"), "{body}");
    }
    let text = &mail.text;
    let line = |start: &str| text.lines().find(|l| l.starts_with(start)).unwrap();
    assert_eq!(line("Used:"), "Used:                         unknown");
    assert_eq!(
        line("Waste:"),
        "Waste:                        unknown (unknown)"
    );
    assert_eq!(
        line("Idle or pending"),
        "Idle or pending reclamation:  0.0000 USD/h (0 namespaces; idleness unknown for 2)"
    );
    for row in text.lines().filter(|l| l.starts_with("pay-")) {
        let cells: Vec<&str> = row.split_whitespace().collect();
        // NAMESPACE STATE PODS CPU-REQ CPU-USED MEM-REQ (2 cells) MEM-USED REQ WASTE WASTE/MONTH
        assert_eq!(cells[4], "unknown", "{row}");
        assert_eq!(
            &cells[7..],
            ["unknown", "0.0401", "unknown", "unknown"],
            "{row}"
        );
    }
    assert!(mail.html.contains("font-style:italic\">unknown</span>"));
    let records = parse_csv(&mail.csv);
    for name in [
        "used_cpu_cores",
        "used_memory_bytes",
        "cpu_flagged",
        "waste_cost_per_hour",
        "waste_cost_per_month",
        "recommended_cpu_cores",
    ] {
        assert_eq!(column(&records, "pay-a", name), "unknown", "{name}");
    }
    assert_eq!(
        column(&records, "pay-a", "usage_unknown_reason"),
        "metrics unavailable: connection refused"
    );
    assert_eq!(column(&records, "pay-a", "requested_cpu_cores"), "1");
}

#[test]
fn sums_over_some_unknown_values_are_lower_bounds_that_say_so() {
    let c = config("");
    let e = evaluation(
        vec![
            team("known", "payments").build(),
            team("dark", "payments").prometheus_down().build(),
        ],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    let waste = r.teams[0].totals.waste_per_hour;
    assert_eq!((waste.known, waste.unknown), (1, 1));
    let mail = &rendered(&r, &c)[0];
    assert!(
        mail.text.contains(&format!(
            "Waste:                        at least {:.4} USD/h (1 of 2 unknown)",
            waste.known_total
        )),
        "{}",
        mail.text
    );
    assert!(mail.subject.contains("at least"), "{}", mail.subject);
}

#[test]
fn csv_follows_rfc_4180_with_stable_columns_and_units() {
    assert_eq!(field("plain"), "plain");
    assert_eq!(field("a,b"), "\"a,b\"");
    assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(field("two\nlines"), "\"two\nlines\"");
    assert_eq!(field("cr\r"), "\"cr\r\"");
    assert_eq!(field(""), "");

    let c = config("");
    let odd = "query \"cpu\" failed, then\nretried";
    let e = evaluation(
        vec![
            team("pay-a", "payments")
                .requests(3, 6.0, 12.0 * GIB)
                .cpu(v(0.3), v(0.5))
                .memory(v(0.9 * GIB))
                .quota("compute", 8.0, 16.0 * GIB)
                .annotation(EXPIRES, "2026-11-25T00:00:00Z")
                .build(),
            team("pay-b", "payments")
                .memory(Sample::unavailable(odd))
                .build(),
        ],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    let csv = &rendered(&r, &c)[0].csv;
    assert!(csv.ends_with("\r\n") && !csv.replace("\r\n", "").contains("\r"));
    let records = parse_csv(csv);
    assert_eq!(records[0], CSV_COLUMNS.map(String::from).to_vec());
    assert!(records.iter().all(|r| r.len() == CSV_COLUMNS.len()));
    assert_eq!(records.len(), 3);
    let a = |name| column(&records, "pay-a", name);
    assert_eq!(a("team"), "payments");
    assert_eq!(a("report"), "payments");
    assert_eq!(a("state"), "expiring");
    assert_eq!(a("requested_cpu_cores"), "6");
    assert_eq!(a("used_cpu_cores"), "0.3");
    assert_eq!(a("cpu_flagged"), "true");
    assert_eq!(a("recommended_cpu_cores"), "0.36");
    assert_eq!(a("requested_memory_bytes"), (12.0 * GIB).to_string());
    assert_eq!(
        a("recommended_memory_bytes"),
        format!("{:.0}", 0.9 * GIB * 1.2)
    );
    assert_eq!(a("quota_cpu_cores"), "8");
    assert_eq!(a("recommended_quota_cpu_cores"), "0.36");
    assert_eq!(a("currency"), "USD");
    let requested: f64 = a("requested_cost_per_hour").parse().unwrap();
    assert!((requested - (6.0 * CPU_PRICE + 12.0 * MEM_PRICE)).abs() < 1e-6);
    let waste: f64 = a("waste_cost_per_hour").parse().unwrap();
    assert!((waste - (5.7 * CPU_PRICE + 11.1 * MEM_PRICE)).abs() < 1e-6);
    assert_eq!(a("expires_at"), "2026-11-25T00:00:00Z");
    assert_eq!(a("reclaim_after"), "");
    let b = |name| column(&records, "pay-b", name);
    assert_eq!(
        b("usage_unknown_reason"),
        format!("metrics unavailable: {odd}"),
        "quoted fields survive a round trip"
    );
    assert_eq!(b("quota_cpu_cores"), "", "no quota: empty, not unknown");
    assert_eq!(b("expires_at"), "");
}

#[test]
fn upcoming_is_exactly_the_next_seven_days() {
    let c = config("");
    let at = utc(AT);
    let expiring = |name: &str, t: DateTime<Utc>| {
        team(name, "payments")
            .annotation(EXPIRES, &crate::core::model::rfc3339(t))
            .build()
    };
    let second = TimeDelta::seconds(1);
    let e = evaluation(
        vec![
            expiring("expires-at-at", at),
            expiring("expires-just-before-at", at - second),
            expiring("expires-last-second", at + week() - second),
            expiring("expires-a-week-on", at + week()),
        ],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    let events: Vec<(&str, Event, DateTime<Utc>)> = r.teams[0]
        .upcoming
        .iter()
        .map(|u| (u.namespace.as_str(), u.event, u.at))
        .collect();
    let grace = c.lifecycle.grace_period.as_delta();
    assert_eq!(
        events,
        vec![
            // Expired: marked by this evaluation, reclaimed a grace period later.
            ("expires-at-at", Event::Expires, at),
            (
                "expires-at-at",
                Event::Reclaimed(Reason::Expired),
                at + grace
            ),
            (
                "expires-just-before-at",
                Event::Reclaimed(Reason::Expired),
                at + grace
            ),
            ("expires-last-second", Event::Expires, at + week() - second),
        ]
    );
    // The commands to keep a namespace are shown once, however many events it has.
    let text = &rendered(&r, &c)[0].text;
    let opt_out =
        "kubectl annotate namespace expires-at-at kube-reclaimer.io/expires=never --overwrite";
    assert_eq!(text.matches(opt_out).count(), 1, "{text}");
}

#[test]
fn marked_namespaces_are_reclaimed_when_their_grace_period_ends_and_due_ones_now() {
    let c = config("");
    let at = utc(AT);
    let marked = |name: &str, notified: DateTime<Utc>| {
        let t = crate::core::model::rfc3339(notified);
        team(name, "payments")
            .annotation(EXPIRES, "2026-11-01T00:00:00Z")
            .ours()
            .annotation("kube-reclaimer.io/marked-at", &t)
            .annotation("kube-reclaimer.io/notified-at", &t)
            .annotation("kube-reclaimer.io/reclaim-after", &t)
            .annotation("kube-reclaimer.io/reason", "expired")
            .build()
    };
    let grace = c.lifecycle.grace_period.as_delta();
    let second = TimeDelta::seconds(1);
    let e = evaluation(
        vec![
            marked("due-long-ago", at - TimeDelta::days(10)),
            marked("due-in-a-week-less-a-second", at + week() - grace - second),
            marked("due-in-a-week", at + week() - grace),
            team("active", "payments").build(),
        ],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    let events: Vec<(&str, DateTime<Utc>)> = r.teams[0]
        .upcoming
        .iter()
        .map(|u| (u.namespace.as_str(), u.at))
        .collect();
    assert_eq!(
        events,
        vec![
            ("due-long-ago", at),
            ("due-in-a-week-less-a-second", at + week() - second),
        ]
    );
    let text = &rendered(&r, &c)[0].text;
    assert!(text.contains("due now"), "{text}");
    assert!(text.contains("in 6 days 23 hours"), "{text}");
    assert!(
        text.contains("kubectl annotate namespace due-long-ago kube-reclaimer.io/expires=2026-12-23 --overwrite"),
        "the expiry is an annotation, so the command sets the annotation:\n{text}"
    );
}

#[test]
fn reclaimed_last_week_is_the_ledger_between_a_week_ago_and_now() {
    let c = config("");
    let at = utc(AT);
    let second = TimeDelta::seconds(1);
    let e = evaluation(vec![team("pay-a", "payments").build()], &c);
    let l = ledger(vec![
        entry("week-ago", Some("payments"), at - week()),
        entry("too-old", Some("payments"), at - week() - second),
        entry("last-second", Some("payments"), at - second),
        entry("now", Some("payments"), at),
        entry("other-team", Some("search"), at - TimeDelta::days(1)),
        entry("no-team", None, at - TimeDelta::days(2)),
        entry("unknown-team", Some("storefront"), at - TimeDelta::days(3)),
    ]);
    let r = build(&e, &l, &c);
    let listed = |list: &ReclaimedList| -> Vec<String> {
        list.entries
            .iter()
            .map(|x| x.entry.namespace.clone())
            .collect()
    };
    assert_eq!(listed(&r.teams[0].reclaimed), ["week-ago", "last-second"]);
    assert_eq!(
        listed(&r.finops.reclaimed),
        [
            "week-ago",
            "unknown-team",
            "no-team",
            "other-team",
            "last-second"
        ]
    );
    let freed = r.teams[0].reclaimed.requested_per_hour;
    assert_eq!(freed.exact(), Some(0.5));
    let mails = rendered(&r, &c);
    assert!(
        mails[0]
            .text
            .contains("Freed: 0.5000 USD/h (365.00 USD/month)."),
        "{}",
        mails[0].text
    );
    assert_eq!(
        mails.len(),
        2,
        "no report for search or the unassigned: they have no namespace"
    );
}

#[test]
fn an_empty_week_names_the_ledger_it_was_read_from() {
    // "Nothing was reclaimed" would claim more than is known: a ledger on a volume that
    // was lost says nothing about the week.
    let c = config("");
    let e = evaluation(vec![team("pay-a", "payments").build()], &c);
    let r = build(&e, &Ledger::of("/t/reclaimed.jsonl", vec![]), &c);
    let mail = &rendered(&r, &c)[0];
    for body in [&mail.text, &unescape(&mail.html)] {
        assert!(
            body.contains("No reclamation in this week is recorded in /t/reclaimed.jsonl."),
            "{body}"
        );
    }
}

#[test]
fn a_ledger_that_cannot_be_read_makes_last_week_unknown_never_empty() {
    let c = config("");
    let e = evaluation(vec![team("pay-a", "payments").build()], &c);
    let l = Ledger::unreadable(
        "/t/reclaimed.jsonl",
        "cannot read /t/reclaimed.jsonl: Permission denied (os error 13)".into(),
    );
    let r = build(&e, &l, &c);
    assert!(!r.teams[0].reclaimed.known);
    let mail = &rendered(&r, &c)[0];
    for body in [&mail.text, &unescape(&mail.html)] {
        assert!(body.contains("What was reclaimed last week is unknown: cannot read /t/reclaimed.jsonl: Permission denied"), "{body}");
        assert!(!body.contains("No reclamation in this week"), "{body}");
    }

    let good =
        serde_json::to_string(&entry("a", Some("payments"), utc(AT) - TimeDelta::days(1))).unwrap();
    let l = crate::core::ledger::parse(
        "/t/reclaimed.jsonl",
        format!("{good}\n{{broken\n").as_bytes(),
    );
    let r = build(&e, &l, &c);
    assert!(r.teams[0].reclaimed.known);
    let text = &rendered(&r, &c)[0].text;
    assert!(text.contains("may be incomplete: 1 line(s) of the ledger could not be read (/t/reclaimed.jsonl line 2"), "{text}");
    assert!(text.contains("The list may be incomplete"), "{text}");
}

#[test]
fn subjects_say_team_requested_and_waste_per_hour() {
    let c = config("");
    let e = evaluation(
        vec![team("pay-a", "payments").build(), Ns::new("loose").build()],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    let mails = rendered(&r, &c);
    let requested = CPU_PRICE + 2.0 * MEM_PRICE;
    let waste = 0.5 * CPU_PRICE + MEM_PRICE;
    assert_eq!(
        mails[0].subject,
        format!("Weekly cost report for team payments: {requested:.4} USD/h requested, {waste:.4} USD/h waste")
    );
    assert!(mails[1]
        .subject
        .starts_with("Weekly cost report for namespaces without a known team: "));
    assert_eq!(
        mails[2].subject,
        format!(
            "Weekly cost roll-up for all teams: {:.4} USD/h requested, {:.4} USD/h waste",
            2.0 * requested,
            2.0 * waste
        )
    );
}

#[test]
fn rightsizing_advice_gives_recommended_requests_quota_and_commands() {
    let c = config("");
    let e = evaluation(
        vec![team("pay-a", "payments")
            .requests(3, 6.0, 12.0 * GIB)
            .cpu(v(0.3), v(0.5))
            .memory(v(0.75 * GIB))
            .quota("compute", 8.0, 16.0 * GIB)
            .build()],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    let text = &rendered(&r, &c)[0].text;
    for needle in [
        "Recommended quota: requests.cpu=360m, requests.memory=922Mi (today: requests.cpu=8, requests.memory=16Gi).",
        "kubectl -n pay-a set resources deployment/NAME --requests=cpu=120m,memory=308Mi",
        "kubectl -n pay-a patch resourcequota compute --type merge -p '{\"spec\":{\"hard\":{\"requests.cpu\":\"360m\",\"requests.memory\":\"922Mi\"}}}'",
        "kubectl -n pay-a get pods -o custom-columns=",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("pay-a") && l.contains("CPU"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["pay-a", "CPU", "6.000", "0.300", "95%", "0.360", "120m"]
    );
}

#[test]
fn dry_run_says_nothing_is_reclaimed() {
    let c = config("");
    let e = evaluation(vec![team("pay-a", "payments").build()], &c);
    let r = build(&e, &ledger(vec![]), &c);
    assert!(r.dry_run);
    assert!(rendered(&r, &c)[0]
        .text
        .contains("dry-run mode: nothing is marked or reclaimed"));
    let c = config("mode: enforce");
    let e = evaluation(vec![team("pay-a", "payments").build()], &c);
    let r = build(&e, &ledger(vec![]), &c);
    assert!(!rendered(&r, &c)[0].text.contains("dry-run"));
}

#[test]
fn file_names_are_safe_and_unique() {
    let c = Config::from_yaml(
        "owners:
  teams:
    'a b': [a@example.com]
    a_b: [b@example.com]
    '../finops': [c@example.com]
    FinOps: [d@example.com]
",
        "test",
    )
    .unwrap();
    let e = evaluation(
        vec![
            team("one", "a b").build(),
            team("two", "a_b").build(),
            team("three", "../finops").build(),
            team("four", "FinOps").build(),
        ],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    let mut files: Vec<String> = rendered(&r, &c).into_iter().map(|m| m.name).collect();
    files.sort();
    assert_eq!(
        files,
        [
            "finops",
            "team-FinOps",
            "team-_finops",
            "team-a_b",
            "team-a_b-2"
        ]
    );
}

#[test]
fn html_is_self_contained_escaped_and_right_aligns_numbers() {
    let (reports, sample_config) = report_sample();
    for mail in rendered(&reports, &sample_config) {
        let html = &mail.html;
        assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
        for outside in ["<link", "<script", "src=\"http", "url("] {
            assert!(!html.contains(outside), "{}: {outside}", mail.name);
        }
        assert!(html.contains("text-align:right"), "{}", mail.name);
        assert!(html.contains("USD"), "{}", mail.name);
    }
    let c = config("");
    let e = evaluation(
        vec![team("pay-a", "payments")
            .memory(Sample::unavailable("<b>down</b>"))
            .build()],
        &c,
    );
    let html = &rendered(&build(&e, &ledger(vec![]), &c), &c)[0].html;
    assert!(
        html.contains("&lt;b&gt;down&lt;&#x2f;b&gt;") && !html.contains("<b>down"),
        "{html}"
    );
}

#[test]
fn an_operator_layout_replaces_the_page_of_both_html_reports() {
    let dir = std::env::temp_dir().join(format!(
        "kube-reclaimer-report-layout-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let layout = include_str!("../templates/report-layout.html")
        .replace("kube-reclaimer &middot; {% block", "ACME &middot; {% block");
    std::fs::write(dir.join("report-layout.html"), layout).unwrap();
    let templates = Templates::load(Some(&dir)).unwrap();
    let (reports, config) = report_sample();
    let mails = render(&reports, &templates, &config).unwrap();
    for (name, tagline) in [
        ("team-payments", "ACME &middot; weekly cost report"),
        ("finops", "ACME &middot; weekly cost roll-up"),
    ] {
        let mail = mails.iter().find(|m| m.name == name).unwrap();
        assert!(mail.html.contains(tagline), "{}", mail.html);
    }

    std::fs::write(dir.join("report-layout.html"), "{{ no_such_value }}").unwrap();
    let err = Templates::load(Some(&dir)).unwrap_err().to_string();
    assert!(
        err.contains("report-layout.html (from smtp.templates_dir") && err.contains("undefined"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn operator_templates_replace_the_built_in_ones_and_broken_ones_are_refused() {
    let dir = std::env::temp_dir().join(format!(
        "kube-reclaimer-report-templates-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("report-team.txt"),
        "Costs of {{ team }}: {{ totals.waste_per_hour }}\n",
    )
    .unwrap();
    let templates = Templates::load(Some(&dir)).unwrap();
    let (reports, config) = report_sample();
    let mails = render(&reports, &templates, &config).unwrap();
    assert!(
        mails[0].text.starts_with("Costs of payments: "),
        "{}",
        mails[0].text
    );
    // The e-mail notices' loader accepts the report templates in the same folder.
    crate::render::notice::Templates::load(Some(&dir)).unwrap();

    std::fs::write(dir.join("report-finops.html"), "{{ no_such_value }}").unwrap();
    let err = Templates::load(Some(&dir)).unwrap_err().to_string();
    assert!(
        err.contains("report-finops.html (from smtp.templates_dir") && err.contains("undefined"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
