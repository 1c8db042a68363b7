//! Shipgate's domain. Nothing here knows about HTTP, SQL, Leptos or AWS, so the
//! dashboard (compiled to wasm) and the engine (on the server) can share it.

pub mod access;
pub mod backoff;
pub mod brief;
pub mod cloud;
pub mod delivery;
pub mod deploy_step;
pub mod discovery;
pub mod field;
pub mod freeze;
pub mod gate;
pub mod ids;
pub mod inventory;
pub mod machine;
pub mod notice;
pub mod permissions;
pub mod pipeline_form;
pub mod read;
pub mod reconcile;
pub mod rollout;
pub mod run_rules;
pub mod settings;
pub mod setup_kit;
pub mod spec;
pub mod status;
pub mod time;
pub mod verify;

pub use access::{Action, Grant, Principal, PrincipalKind, Role, Scope};
pub use ids::{Actor, BadActor, BadRunId, RunId};
pub use machine::{DeployState, RunEvent, RunState, TransitionError, transition};
pub use settings::{BuildSettings, DeploySettings, DeployStrategy, Severity, Span};
pub use spec::{EnvironmentSpec, FieldError, InvalidSpec, PipelineDraft, PipelineSpec, Promotion};
pub use status::{
    DeliverySource, Recovery, RunKind, RunStatus, StageKind, StageStatus, UnknownStatus,
};
