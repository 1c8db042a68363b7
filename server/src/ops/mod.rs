//! The use-cases: one function per intent (decide a gate, cancel, retry, roll back, record
//! a delivery, write a pipeline). Each takes who is acting and a typed request, checks the
//! pure policy of the domain crate, commits through the store, wakes the engine, and
//! returns one error type. The doors (REST handlers, the dashboard's bridge, the webhook
//! intake) only translate requests into these calls and [`OpError`] into their answers.

mod decide_gate;
mod discover;
mod pipelines;
mod record_delivery;
mod runs;
mod setup;

pub use decide_gate::DecideGate;
pub use discover::{DISCOVERY_TTL, Discovery};
pub use setup::{Setup, VERIFY_WAIT};

use crate::engine::EngineHandle;
use crate::store::{AuditEntry, Store, StoreError};
use shipgate_pipeline::access::{Action, Principal, Role};
use shipgate_pipeline::{FieldError, RunId};

/// Who asks for a change, and from where: what the audit log records.
#[derive(Debug, Clone)]
pub struct Acting {
    pub principal: Principal,
    pub ip: Option<String>,
}

impl Acting {
    pub fn new(principal: Principal, ip: Option<String>) -> Acting {
        Acting { principal, ip }
    }

    /// Refused unless the caller may do `action`.
    pub fn require(&self, action: Action<'_>) -> Result<(), OpError> {
        if self.principal.may(&action) {
            Ok(())
        } else {
            Err(OpError::Forbidden(action.least_role()))
        }
    }

    /// An audit entry with the caller as actor; the use-case fills in what was done.
    pub fn audit(&self) -> AuditEntry {
        AuditEntry {
            actor: self.principal.id.clone(),
            action: String::new(),
            target: String::new(),
            ip: self.ip.clone(),
            detail: String::new(),
            via: self.principal.via.clone(),
        }
    }
}

/// Why a use-case did not do what was asked. Every door maps these the same way: the first
/// ones are the caller's to fix, `Cloud` is AWS's, and the last are ours, logged in full.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The caller lacks the role the change needs.
    #[error("this needs the {0} role")]
    Forbidden(Role),
    /// A refusal of the policy that no change of the request would get past (self-approval,
    /// a link that is not valid): for the person, like [`OpError::Forbidden`], with its reason.
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed: `fields` names what to fix.
    #[error("{message}")]
    Invalid {
        message: String,
        fields: Vec<FieldError>,
    },
    /// The thing asked about is not in a state that allows this (ended, frozen, another
    /// image waiting, changed meanwhile).
    #[error("{0}")]
    Conflict(String),
    /// The database cannot take the change just now; the same request may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// AWS or GitHub refused, failed or did not answer (`slow`) a call made for the caller:
    /// one sentence, in their words where they had any, never an SDK dump.
    #[error("{message}")]
    Upstream { message: String, slow: bool },
    /// A failure on our side, described for the log.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(StoreError),
}

impl OpError {
    /// A missing or wrong field, named.
    pub fn invalid(field: &str, message: impl Into<String>) -> OpError {
        let message = message.into();
        OpError::Invalid {
            message: format!("{field}: {message}"),
            fields: vec![FieldError {
                field: field.into(),
                message,
            }],
        }
    }

    fn run_not_found(id: RunId) -> OpError {
        OpError::NotFound(format!("run {id} does not exist"))
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        use crate::store::rollback::RollbackRefusal as R;
        match e {
            StoreError::PipelineExists(_)
            | StoreError::RunChanged(_)
            | StoreError::Transition(_)
            | StoreError::RunRefused { .. } => OpError::Conflict(e.to_string()),
            StoreError::PipelineNotFound(_) | StoreError::RunNotFound(_) => {
                OpError::NotFound(e.to_string())
            }
            StoreError::RollbackRefused(why) => match why {
                R::ReasonRequired => OpError::invalid("reason", why.to_string()),
                R::NoSuchDeploy { .. } => OpError::NotFound(why.to_string()),
                R::NotSucceeded { .. } | R::NoRevision { .. } => OpError::Conflict(why.to_string()),
            },
            other => OpError::Store(other),
        }
    }
}

/// The use-cases, over the store and the engine they wake.
#[derive(Clone)]
pub struct Ops {
    pub store: Store,
    pub engine: EngineHandle,
}

impl Ops {
    pub fn new(store: Store, engine: EngineHandle) -> Ops {
        Ops { store, engine }
    }

    /// The run `id` names, which the caller must at least be able to see.
    async fn visible_run(
        &self,
        who: &Acting,
        id: RunId,
    ) -> Result<shipgate_pipeline::read::RunDetail, OpError> {
        who.require(Action::View)?;
        self.store
            .get_run(id.get())
            .await?
            .ok_or_else(|| OpError::run_not_found(id))
    }
}
