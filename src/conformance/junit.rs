//! JUnit XML (the Ant/Jenkins flavour CI systems read): one testsuite, one
//! testcase per scenario; a failure carries the detail, the rule and where
//! the transcript went, a skip its reason.

use std::collections::HashMap;
use std::path::PathBuf;

use quick_xml::escape::escape;

use super::report::{RunReport, Verdict};

/// The document for `report`; `transcripts` maps a failed scenario's id to
/// the folder its exchange was written to.
pub fn render(report: &RunReport, transcripts: &HashMap<&str, PathBuf>) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"syncmld conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
        report.results.len(),
        report.failures(),
        report.count("skip"),
        report.elapsed.as_secs_f64()
    ));
    out.push_str(&format!(
        "  <testsuite name=\"syncmld-conformance\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">\n",
        report.results.len(),
        report.failures(),
        report.count("skip"),
        report.elapsed.as_secs_f64()
    ));
    out.push_str("    <properties>\n");
    for (name, value) in [
        ("server", report.server.as_str()),
        ("final-state", &report.final_state_line()),
    ] {
        out.push_str(&format!(
            "      <property name=\"{name}\" value=\"{}\"/>\n",
            escape(value)
        ));
    }
    out.push_str("    </properties>\n");
    for r in &report.results {
        let group = r.id.split('.').next().unwrap_or(r.id);
        out.push_str(&format!(
            "    <testcase classname=\"conformance.{}\" name=\"{}\" time=\"{:.3}\">\n",
            escape(group),
            escape(r.id),
            r.elapsed.as_secs_f64()
        ));
        let context = format!("{}\nrule: {}", r.title, r.rule);
        match &r.verdict {
            Verdict::Pass(detail) => out.push_str(&format!(
                "      <system-out>{}</system-out>\n",
                escape(format!("{context}\n{detail}"))
            )),
            Verdict::Skip(reason) => out.push_str(&format!(
                "      <skipped message=\"{}\"/>\n",
                escape(reason)
            )),
            Verdict::Fail(detail) => {
                let mut body = format!("{context}\n{detail}");
                if let Some(dir) = transcripts.get(r.id) {
                    body.push_str(&format!("\ntranscript: {}", dir.display()));
                }
                let first = detail.lines().next().unwrap_or("");
                out.push_str(&format!(
                    "      <failure message=\"{}\">{}</failure>\n",
                    escape(first),
                    escape(&body)
                ));
            }
        }
        if let Some(note) = &r.note {
            out.push_str(&format!(
                "      <system-err>{}</system-err>\n",
                escape(note)
            ));
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
