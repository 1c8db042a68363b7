//! The vocabulary of validation shared by every draft (pipelines, notifiers, tokens): a
//! problem named by its field path, and the slug rule for names that appear in URLs. It sits
//! below the modules that validate, so that they need not import each other.

use serde::{Deserialize, Serialize};

/// One problem with one field, e.g. `environments[1].promotion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every problem found in a draft, in field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.summary())]
pub struct InvalidSpec {
    pub errors: Vec<FieldError>,
}

impl InvalidSpec {
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidSpec {
            errors: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    fn summary(&self) -> String {
        self.errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Pipeline and environment names appear in URLs, so they stay plain.
pub(crate) fn check_slug(s: &str) -> Result<(), String> {
    let ok = s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` must be 1-64 lowercase letters, digits, `-` or `_`, starting with a letter or digit"
        ))
    }
}
