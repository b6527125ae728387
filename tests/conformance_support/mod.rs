//! Shared by the `conformance_*` integration tests: run the `syncmld
//! conformance` binary and read its JUnit report back.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::common::{RunOutput, run_with_timeout};

/// `syncmld conformance --url … --user alice --password secret --junit
/// DIR/junit.xml --keep-transcripts DIR/transcripts [extra…]`.
pub fn run_conformance(url: &str, dir: &Path, extra: &[&str], timeout: Duration) -> RunOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncmld"));
    cmd.args(["conformance", "--url", url, "--user", "alice"])
        .env("SYNCMLD_CONFORMANCE_PASSWORD", "secret")
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .arg("--keep-transcripts")
        .arg(dir.join("transcripts"))
        .args(extra);
    let out = run_with_timeout(cmd, None, timeout);
    println!("{}", out.stdout);
    eprintln!("{}", out.stderr);
    out
}

/// scenario id → "pass" | "fail" | "skip", from a JUnit file.
pub fn verdicts(junit: &Path) -> BTreeMap<String, &'static str> {
    let xml = std::fs::read_to_string(junit)
        .unwrap_or_else(|e| panic!("no JUnit report {}: {e}", junit.display()));
    let mut reader = Reader::from_str(&xml);
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("JUnit report is not XML: {e}"));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().to_owned();
                match name.as_str() {
                    "testcase" => {
                        let id = e
                            .try_get_attribute("name")
                            .ok()
                            .flatten()
                            .map(|a| a.value.into_owned())
                            .expect("testcase without a name");
                        out.insert(id.clone(), "pass");
                        current = Some(id);
                    }
                    "failure" => {
                        if let Some(id) = &current {
                            out.insert(id.clone(), "fail");
                        }
                    }
                    "skipped" => {
                        if let Some(id) = &current {
                            out.insert(id.clone(), "skip");
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) if e.local_name().as_ref() == "testcase" => current = None,
            Event::Eof => break,
            _ => {}
        }
    }
    out
}
