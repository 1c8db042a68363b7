//! What a release manager decides on at a gate, gathered by the engine when the gate opens:
//! the commits since the version live in the environment, and how the environment's task
//! definition would change. (The image digest and its scan summary come from the build.)
//! Each part that could not be gathered says why instead, so a GitHub outage shows as
//! such rather than as "no commits".

use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateBrief {
    pub environment: String,
    /// What Shipgate last deployed there successfully, if anything.
    pub live: Option<LiveVersion>,
    pub commits: Gathered<CommitList>,
    pub task_definition: Gathered<TaskDiff>,
    /// The image's ECR scan findings by lowercase severity.
    pub scan: Gathered<BTreeMap<String, i64>>,
    pub gathered_at: Millis,
}

impl GateBrief {
    /// Whether a later look should try again: a part failed for a reason that may pass.
    pub fn incomplete(&self) -> bool {
        matches!(self.commits, Gathered::Failed(_))
            || matches!(self.task_definition, Gathered::Failed(_))
            || matches!(self.scan, Gathered::Failed(_))
    }
}

/// One part of a brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "value", rename_all = "snake_case")]
pub enum Gathered<T> {
    Found(T),
    /// Nothing to show, and why (first deploy, no GitHub token…).
    NotApplicable(String),
    /// Looking failed; the message says how.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveVersion {
    pub run_id: i64,
    pub commit_sha: String,
    pub image: String,
    pub task_definition: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitList {
    /// How many commits GitHub counts; it lists at most 250 of them.
    pub total: i64,
    pub url: String,
    pub commits: Vec<CommitLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitLine {
    pub sha: String,
    pub title: String,
    pub author: String,
    pub url: String,
}

/// The parts of a task definition that a release manager checks before a deploy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskShape {
    /// `family:revision`.
    pub revision: String,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub containers: Vec<ContainerShape>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerShape {
    pub name: String,
    pub image: String,
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
    /// Environment variables, sorted by name. (Secrets are references, shown as such.)
    pub environment: Vec<(String, String)>,
    /// `8080/tcp`, or `8080→80/tcp` when the host port differs.
    pub ports: Vec<String>,
}

impl TaskShape {
    /// What Shipgate would register: this revision with `container` running `image`.
    pub fn with_image(&self, container: &str, image: &str) -> TaskShape {
        let mut next = self.clone();
        next.revision = "next revision".into();
        for c in next.containers.iter_mut().filter(|c| c.name == container) {
            c.image = image.to_owned();
        }
        next
    }
}

/// The live task definition against the candidate, field by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDiff {
    pub live_revision: String,
    pub changes: Vec<TaskChange>,
    /// What stays as it is, summed up in one line per container (so the page can say
    /// "cpu 256, memory 512, ports 80/tcp, 3 environment variables" without a table).
    pub unchanged: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskChange {
    /// What changes: `task cpu`, `api image`, `api env LOG_LEVEL`, `api ports`…
    pub field: String,
    /// `None` when the field is new.
    pub live: Option<String>,
    /// `None` when the field goes away.
    pub candidate: Option<String>,
}

/// Compares two task shapes: every field that differs, in a stable order.
pub fn diff(live: &TaskShape, candidate: &TaskShape) -> TaskDiff {
    let mut changes = Vec::new();
    let mut change = |field: String, a: Option<String>, b: Option<String>| {
        if a != b {
            changes.push(TaskChange {
                field,
                live: a,
                candidate: b,
            });
        }
    };
    change("task cpu".into(), live.cpu.clone(), candidate.cpu.clone());
    change(
        "task memory".into(),
        live.memory.clone(),
        candidate.memory.clone(),
    );
    let mut names: Vec<&str> = live
        .containers
        .iter()
        .chain(&candidate.containers)
        .map(|c| c.name.as_str())
        .collect();
    names.dedup();
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(*n));
    let mut unchanged = Vec::new();
    for name in names {
        let a = live.containers.iter().find(|c| c.name == name);
        let b = candidate.containers.iter().find(|c| c.name == name);
        let (a, b) = match (a, b) {
            (Some(a), Some(b)) => (a, b),
            (a, b) => {
                change(
                    format!("container {name}"),
                    a.map(|c| c.image.clone()),
                    b.map(|c| c.image.clone()),
                );
                continue;
            }
        };
        change(
            format!("{name} image"),
            Some(a.image.clone()),
            Some(b.image.clone()),
        );
        change(
            format!("{name} cpu"),
            a.cpu.map(|v| v.to_string()),
            b.cpu.map(|v| v.to_string()),
        );
        change(
            format!("{name} memory"),
            a.memory.map(|v| v.to_string()),
            b.memory.map(|v| v.to_string()),
        );
        let ports = |c: &ContainerShape| (!c.ports.is_empty()).then(|| c.ports.join(", "));
        change(format!("{name} ports"), ports(a), ports(b));
        let mut keys: Vec<&str> = a
            .environment
            .iter()
            .chain(&b.environment)
            .map(|(k, _)| k.as_str())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let value = |c: &ContainerShape| {
                c.environment
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            };
            change(format!("{name} env {key}"), value(a), value(b));
        }
        if a.cpu == b.cpu
            && a.memory == b.memory
            && a.ports == b.ports
            && a.environment == b.environment
        {
            let mut parts = Vec::new();
            if let Some(cpu) = a.cpu {
                parts.push(format!("cpu {cpu}"));
            }
            if let Some(memory) = a.memory {
                parts.push(format!("memory {memory}"));
            }
            if !a.ports.is_empty() {
                parts.push(format!("ports {}", a.ports.join(", ")));
            }
            parts.push(match a.environment.len() {
                1 => "1 environment variable".to_owned(),
                n => format!("{n} environment variables"),
            });
            unchanged.push(format!("{name}: {}", parts.join(", ")));
        }
    }
    TaskDiff {
        live_revision: live.revision.clone(),
        changes,
        unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> TaskShape {
        TaskShape {
            revision: "api:7".into(),
            cpu: Some("256".into()),
            memory: Some("512".into()),
            containers: vec![
                ContainerShape {
                    name: "api".into(),
                    image: "r/api@sha256:old".into(),
                    cpu: None,
                    memory: Some(448),
                    environment: vec![
                        ("LOG_LEVEL".into(), "info".into()),
                        ("REGION".into(), "eu".into()),
                    ],
                    ports: vec!["8080/tcp".into()],
                },
                ContainerShape {
                    name: "envoy".into(),
                    image: "envoy:1.30".into(),
                    ..Default::default()
                },
            ],
        }
    }

    fn changed(d: &TaskDiff) -> Vec<(&str, Option<&str>, Option<&str>)> {
        d.changes
            .iter()
            .map(|c| (c.field.as_str(), c.live.as_deref(), c.candidate.as_deref()))
            .collect()
    }

    #[test]
    fn the_candidate_differs_from_the_live_revision_in_the_image_only() {
        let live = shape();
        let d = diff(&live, &live.with_image("api", "r/api@sha256:new"));
        assert_eq!(
            changed(&d),
            vec![(
                "api image",
                Some("r/api@sha256:old"),
                Some("r/api@sha256:new")
            )]
        );
        assert_eq!(d.live_revision, "api:7");
        assert_eq!(
            d.unchanged,
            vec![
                "api: memory 448, ports 8080/tcp, 2 environment variables",
                "envoy: 0 environment variables"
            ]
        );
    }

    #[test]
    fn every_field_a_release_manager_checks_is_compared() {
        let live = shape();
        let mut other = live.clone();
        other.cpu = Some("512".into());
        other.memory = None;
        other.containers[0].environment = vec![
            ("LOG_LEVEL".into(), "debug".into()),
            ("NEW".into(), "1".into()),
        ];
        other.containers[0].ports = vec!["8080/tcp".into(), "9090/tcp".into()];
        other.containers[0].cpu = Some(128);
        other.containers.remove(1);
        other.containers.push(ContainerShape {
            name: "otel".into(),
            image: "otel:0.9".into(),
            ..Default::default()
        });
        let d = diff(&live, &other);
        assert_eq!(
            changed(&d),
            vec![
                ("task cpu", Some("256"), Some("512")),
                ("task memory", Some("512"), None),
                ("api cpu", None, Some("128")),
                ("api ports", Some("8080/tcp"), Some("8080/tcp, 9090/tcp")),
                ("api env LOG_LEVEL", Some("info"), Some("debug")),
                ("api env NEW", None, Some("1")),
                ("api env REGION", Some("eu"), None),
                ("container envoy", Some("envoy:1.30"), None),
                ("container otel", None, Some("otel:0.9")),
            ]
        );
        assert!(d.unchanged.is_empty());
    }

    #[test]
    fn a_brief_with_a_failed_part_is_gathered_again() {
        let brief = |commits, task_definition| GateBrief {
            environment: "production".into(),
            live: None,
            commits,
            task_definition,
            scan: Gathered::Found(BTreeMap::new()),
            gathered_at: 0,
        };
        let found = Gathered::Found(CommitList {
            total: 0,
            url: String::new(),
            commits: vec![],
        });
        let diffed = Gathered::Found(diff(&shape(), &shape()));
        assert!(!brief(found.clone(), diffed.clone()).incomplete());
        assert!(
            !brief(
                Gathered::NotApplicable("no GitHub token".into()),
                diffed.clone()
            )
            .incomplete()
        );
        assert!(brief(Gathered::Failed("GitHub answered 502".into()), diffed).incomplete());
        assert!(brief(found, Gathered::Failed("throttled".into())).incomplete());
    }
}
