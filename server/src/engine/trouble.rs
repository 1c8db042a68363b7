//! What the log says about AWS failures: once when a subject's failure starts, once when
//! it changes, once when it clears, never once per poll. Stages and pages keep the latest
//! error themselves; this only decides when a person reading the log hears of it.

use crate::aws::CloudError;
use std::collections::HashMap;
use std::sync::Mutex;
use tracing::{debug, info, warn};

/// The most subjects remembered; past it the memory starts afresh (each failing subject
/// is then logged once more), so a long-lived process never grows without bound.
const MAX_SUBJECTS: usize = 10_000;

/// The failure each subject (`run 7 build`, `service prod/api`, …) last logged.
#[derive(Default)]
pub struct CloudTrouble {
    last: Mutex<HashMap<String, (String, String)>>,
}

/// Whether a failure is news to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    Started,
    Changed,
    Same,
}

impl CloudTrouble {
    /// Notes that `subject` failed with `error`; logs it if it is new for that subject.
    pub fn failed(&self, subject: &str, error: &CloudError) -> Heard {
        let seen = (error.code.clone(), error.message.clone());
        let previous = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.len() >= MAX_SUBJECTS && !last.contains_key(subject) {
                last.clear();
            }
            last.insert(subject.to_owned(), seen.clone())
        };
        let heard = match previous {
            None => Heard::Started,
            Some(p) if p == seen => Heard::Same,
            Some(_) => Heard::Changed,
        };
        if heard != Heard::Same {
            let how = if heard == Heard::Started {
                "AWS call failing"
            } else {
                "AWS call failing differently"
            };
            warn!(subject, problem = %error.problem, retrying = error.retryable, error = %error, "{how}");
            debug!(subject, chain = %error.chain, "AWS error chain");
        }
        heard
    }

    /// Notes that `subject`'s AWS calls work again; logs it if they had been failing.
    pub fn cleared(&self, subject: &str) -> bool {
        let was = self
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(subject);
        if let Some((code, _)) = &was {
            info!(subject, was = %code, "AWS call works again");
        }
        was.is_some()
    }

    /// Drops what was noted of `subject`, which has ended: its stage already says how.
    pub fn forget(&self, subject: &str) {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(subject);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shipgate_pipeline::cloud::CloudProblem;

    fn error(code: &str, message: &str) -> CloudError {
        CloudError {
            code: code.into(),
            message: message.into(),
            problem: CloudProblem::of_code(code, false),
            retryable: true,
            chain: message.into(),
        }
    }

    #[test]
    fn a_repeating_failure_is_heard_when_it_starts_changes_and_clears() {
        let trouble = CloudTrouble::default();
        let busy = error("ThrottlingException", "ecs:DescribeServices: Rate exceeded");
        assert_eq!(trouble.failed("run 1 build", &busy), Heard::Started);
        assert_eq!(trouble.failed("run 1 build", &busy), Heard::Same);
        assert_eq!(trouble.failed("run 1 build", &busy), Heard::Same);
        let gone = error("Unreachable", "ecs:DescribeServices: no answer");
        assert_eq!(trouble.failed("run 1 build", &gone), Heard::Changed);
        assert_eq!(
            trouble.failed("run 2 build", &gone),
            Heard::Started,
            "subjects are apart"
        );
        assert!(trouble.cleared("run 1 build"));
        assert!(!trouble.cleared("run 1 build"), "cleared once");
        assert_eq!(trouble.failed("run 1 build", &gone), Heard::Started);
    }
}
