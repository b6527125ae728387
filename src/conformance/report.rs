//! Results and the terminal table.

use std::time::Duration;

use super::wire::Exchange;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Passed; the detail says what was observed (e.g. which side won).
    Pass(String),
    Fail(String),
    /// Not run, and why (a capability the server's DevInf does not claim).
    Skip(String),
}

impl Verdict {
    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }

    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass(_) => "pass",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "skip",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Verdict::Pass(d) | Verdict::Fail(d) | Verdict::Skip(d) => d,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub id: &'static str,
    pub title: &'static str,
    pub rule: &'static str,
    pub verdict: Verdict,
    pub elapsed: Duration,
    /// The messages of a failed scenario (empty otherwise).
    pub transcript: Vec<Exchange>,
    /// Something worth knowing that is not the verdict (cleanup trouble).
    pub note: Option<String>,
}

/// Whether the runner left the server's book as it found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalState {
    Restored {
        contacts: usize,
    },
    Differs(String),
    /// The final check itself failed.
    Unknown(String),
}

#[derive(Debug, Clone)]
pub struct RunReport {
    /// One line about the server (from its DevInf).
    pub server: String,
    pub results: Vec<ScenarioResult>,
    pub final_state: FinalState,
    pub elapsed: Duration,
}

impl RunReport {
    pub fn count(&self, label: &str) -> usize {
        self.results
            .iter()
            .filter(|r| r.verdict.label() == label)
            .count()
    }

    pub fn failures(&self) -> usize {
        self.count("FAIL")
    }

    /// "41 scenarios: 39 pass, 1 FAIL, 1 skip in 3.2 s".
    pub fn summary(&self) -> String {
        format!(
            "{} scenarios: {} pass, {} FAIL, {} skip in {:.1} s",
            self.results.len(),
            self.count("pass"),
            self.failures(),
            self.count("skip"),
            self.elapsed.as_secs_f64()
        )
    }

    pub fn final_state_line(&self) -> String {
        match &self.final_state {
            FinalState::Restored { contacts } => {
                format!("server book: as found ({contacts} contacts, compared by content)")
            }
            FinalState::Differs(d) => format!("server book: NOT as found: {d}"),
            FinalState::Unknown(e) => format!("server book: could not be checked: {e}"),
        }
    }
}

/// Width of the id column (the longest id in the catalogue fits).
const ID_WIDTH: usize = 34;

pub fn table_header() -> String {
    format!(
        "{:<ID_WIDTH$} {:<6} {:>7}  detail\n{}",
        "scenario",
        "result",
        "time",
        "-".repeat(ID_WIDTH + 6 + 7 + 12)
    )
}

/// One table row; the detail's first line only (the JUnit file has all).
pub fn table_row(r: &ScenarioResult) -> String {
    let detail = r.verdict.detail().lines().next().unwrap_or("");
    let mut row = format!(
        "{:<ID_WIDTH$} {:<6} {:>6.2}s  {}",
        r.id,
        r.verdict.label(),
        r.elapsed.as_secs_f64(),
        detail
    );
    if let Some(n) = &r.note {
        row.push_str(&format!(" [{n}]"));
    }
    row
}
