//! Status vocabularies shared by the store, the engine, the REST API and the dashboard.
//! Each one has a single text form, used in the database, in JSON and in URLs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A text form that names no known status; carries the text so the error can say which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownStatus {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownStatus { kind: $kind, value: s.to_owned() }),
                }
            }
        }
    };
}

text_enum!(
    /// Where a run as a whole stands. The terminal ones never change again.
    RunStatus, "run status" {
        Running => "running",
        AwaitingApproval => "awaiting_approval",
        Succeeded => "succeeded",
        Failed => "failed",
        RolledBack => "rolled_back",
        Rejected => "rejected",
        Cancelled => "cancelled",
        Superseded => "superseded",
        Expired => "expired",
    }
);

text_enum!(
    /// Where one stage (Source, Build, or the Deploy to one environment) stands.
    StageStatus, "stage status" {
        Pending => "pending",
        Running => "running",
        AwaitingApproval => "awaiting_approval",
        Succeeded => "succeeded",
        Failed => "failed",
        RolledBack => "rolled_back",
        Rejected => "rejected",
        Skipped => "skipped",
        Cancelled => "cancelled",
        Superseded => "superseded",
        Expired => "expired",
    }
);

text_enum!(
    /// The three columns of a run's timeline.
    StageKind, "stage kind" {
        Source => "source",
        Build => "build",
        Deploy => "deploy",
    }
);

text_enum!(
    /// What started a run.
    RunKind, "run kind" {
        Push => "push",
        Retry => "retry",
        Rollback => "rollback",
    }
);

text_enum!(
    /// Where a stored delivery came from: GitHub sent it (`webhook`), or Shipgate found it
    /// itself (`recovered`): read back from the hook's delivery log after it failed, or made
    /// by head reconcile for a push whose webhook never came.
    DeliverySource, "delivery source" {
        Webhook => "webhook",
        Recovered => "recovered",
    }
);

text_enum!(
    /// How Shipgate found a push no webhook told it about: `reconcile` (the branch head on
    /// GitHub had no run: no webhook arrived for it), or `hook_delivery` (the webhook failed
    /// to arrive and was read back from GitHub's delivery log).
    Recovery, "recovery" {
        Reconcile => "reconcile",
        HookDelivery => "hook_delivery",
    }
);

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunStatus::Running | RunStatus::AwaitingApproval)
    }
}

impl StageStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            StageStatus::Pending | StageStatus::Running | StageStatus::AwaitingApproval
        )
    }
}

/// How a successful deploy to the previous environment (or the build, for the first one)
/// leads into this environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Promotion {
    /// Continuous deployment: start as soon as the previous step succeeds.
    Auto,
    /// Continuous delivery: wait for a release manager's approval.
    Manual,
}

impl Promotion {
    pub fn as_str(self) -> &'static str {
        match self {
            Promotion::Auto => "auto",
            Promotion::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Promotion::Auto),
            "manual" => Some(Promotion::Manual),
            _ => None,
        }
    }
}

impl fmt::Display for Promotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_text_and_json() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(*s));
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for s in StageStatus::ALL {
            assert_eq!(s.as_str().parse::<StageStatus>(), Ok(*s));
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for s in StageKind::ALL {
            assert_eq!(s.as_str().parse::<StageKind>(), Ok(*s));
        }
        for s in RunKind::ALL {
            assert_eq!(s.as_str().parse::<RunKind>(), Ok(*s));
        }
    }

    #[test]
    fn unknown_status_text_is_named_in_the_error() {
        let err = "done".parse::<RunStatus>().unwrap_err();
        assert_eq!(err.to_string(), "unknown run status `done`");
    }
}
