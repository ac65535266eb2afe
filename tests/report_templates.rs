//! Operator templates in `smtp.templates_dir`: a report template of the same name
//! replaces the built-in one, a broken one is refused, and the e-mail notices' loader
//! accepts the report templates in the same folder.

use kube_reclaimer::core::fixtures::report_sample;
use kube_reclaimer::render::report::{render, Templates};

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
    kube_reclaimer::app::act::mail::Templates::load(Some(&dir)).unwrap();

    std::fs::write(dir.join("report-finops.html"), "{{ no_such_value }}").unwrap();
    let err = Templates::load(Some(&dir)).unwrap_err().to_string();
    assert!(
        err.contains("report-finops.html (from smtp.templates_dir") && err.contains("undefined"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
