//! The dashboard's pipeline form, field for field: what a browser sends, all text. The
//! inputs are named by the same paths validation names its errors by (`name`,
//! `environments[0].cluster`), so an error is shown beside the input it is about, and the
//! form becomes a [`PipelineDraft`] that [`PipelineDraft::validate`] checks exactly as it
//! checks the REST API's JSON.
//!
//! The form shows only part of a pipeline (the link between a branch and ECS services, and
//! each gate's approval policy). Editing keeps everything else as it was: the draft is laid
//! over the pipeline's current definition, each environment over the one it was (by its
//! name before the edit), so freezes, notifiers or deploy settings set in TOML or through
//! the API survive an edit in the browser.

use crate::discovery::{ClusterFound, ServiceFound};
use crate::field::FieldError;
use crate::spec::{EnvironmentDraft, MAX_ENVIRONMENTS, PipelineDraft, PipelineSpec};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineForm {
    pub name: String,
    pub repository: String,
    pub branch: String,
    /// Empty: the first environment's region.
    pub ecr_region: String,
    pub ecr_repository: String,
    pub environments: Vec<EnvironmentForm>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvironmentForm {
    /// The environment's name before this edit (empty for a new one): what its other
    /// settings are kept by, even when it is renamed or moved.
    pub was: String,
    pub name: String,
    pub region: String,
    pub cluster: String,
    pub service: String,
    pub container: String,
    /// The IAM role deploys to this environment assume (empty: Shipgate's own identity).
    /// Discovery reads the environment's region as this role, so another account's
    /// clusters are the ones offered.
    pub role_arn: String,
    /// `auto` or `manual`.
    pub promotion: String,
    pub required_approvals: String,
    pub allow_self_approval: bool,
    /// Emails, separated by commas, spaces or lines.
    pub approvers: String,
    pub approval_expiry: String,
}

/// The name of environment `i`'s input for `field`, as validation names it.
pub fn env_field(i: usize, field: &str) -> String {
    format!("environments[{i}].{field}")
}

/// The text inputs of one environment, in the order they are sent.
const ENV_TEXT: [&str; 11] = [
    "was",
    "name",
    "region",
    "role_arn",
    "cluster",
    "service",
    "container",
    "promotion",
    "required_approvals",
    "approvers",
    "approval_expiry",
];

impl EnvironmentForm {
    fn text_mut(&mut self, field: &str) -> Option<&mut String> {
        Some(match field {
            "was" => &mut self.was,
            "name" => &mut self.name,
            "region" => &mut self.region,
            "cluster" => &mut self.cluster,
            "service" => &mut self.service,
            "container" => &mut self.container,
            "role_arn" => &mut self.role_arn,
            "promotion" => &mut self.promotion,
            "required_approvals" => &mut self.required_approvals,
            "approvers" => &mut self.approvers,
            "approval_expiry" => &mut self.approval_expiry,
            _ => return None,
        })
    }

    fn text(&self, field: &str) -> &str {
        match field {
            "was" => &self.was,
            "name" => &self.name,
            "region" => &self.region,
            "cluster" => &self.cluster,
            "service" => &self.service,
            "container" => &self.container,
            "role_arn" => &self.role_arn,
            "promotion" => &self.promotion,
            "required_approvals" => &self.required_approvals,
            "approvers" => &self.approvers,
            "approval_expiry" => &self.approval_expiry,
            _ => "",
        }
    }

    /// Whether nothing that names a service was filled in yet.
    fn is_blank(&self) -> bool {
        self.cluster.is_empty() && self.service.is_empty() && self.container.is_empty()
    }
}

/// A change to the form that the browser asks for by reloading it (a submit button's
/// `op`), so that the form works the same with JavaScript off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormStep {
    AddEnvironment,
    RemoveEnvironment(usize),
    MoveUp(usize),
    /// Fill an environment from the live service chosen in the import fields.
    Import,
}

impl FormStep {
    pub fn parse(s: &str) -> Option<FormStep> {
        let index = |rest: &str| rest.parse::<usize>().ok().filter(|i| *i < MAX_ENVIRONMENTS);
        match s {
            "add" => Some(FormStep::AddEnvironment),
            "import" => Some(FormStep::Import),
            _ => {
                if let Some(rest) = s.strip_prefix("remove-") {
                    index(rest).map(FormStep::RemoveEnvironment)
                } else {
                    index(s.strip_prefix("up-")?).map(FormStep::MoveUp)
                }
            }
        }
    }

    /// The button value that asks for this step.
    pub fn value(self) -> String {
        match self {
            FormStep::AddEnvironment => "add".into(),
            FormStep::Import => "import".into(),
            FormStep::RemoveEnvironment(i) => format!("remove-{i}"),
            FormStep::MoveUp(i) => format!("up-{i}"),
        }
    }
}

/// An input's text, trimmed (a space pasted at the end of a name is invisible in an input
/// and would only earn an error the person cannot see); empty is absent, so that validation
/// says the field is required.
fn optional(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

impl PipelineForm {
    /// Reads the form from what a browser sent (a query string or a form body). Keys it does
    /// not know are left for the page (the step asked for, the import fields); environments
    /// beyond [`MAX_ENVIRONMENTS`] are never made, whatever index a request names.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> PipelineForm
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut form = PipelineForm::default();
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            let slot = match key {
                "name" => &mut form.name,
                "repository" => &mut form.repository,
                "branch" => &mut form.branch,
                "ecr_region" => &mut form.ecr_region,
                "ecr_repository" => &mut form.ecr_repository,
                _ => {
                    let Some((i, field)) = key
                        .strip_prefix("environments[")
                        .and_then(|rest| rest.split_once("]."))
                        .and_then(|(i, field)| Some((i.parse::<usize>().ok()?, field)))
                        .filter(|(i, _)| *i < MAX_ENVIRONMENTS)
                    else {
                        continue;
                    };
                    if form.environments.len() <= i {
                        form.environments
                            .resize_with(i + 1, EnvironmentForm::default);
                    }
                    let env = &mut form.environments[i];
                    if field == "allow_self_approval" {
                        env.allow_self_approval = !matches!(value, "" | "false" | "off");
                        continue;
                    }
                    match env.text_mut(field) {
                        Some(slot) => slot,
                        None => continue,
                    }
                }
            };
            *slot = value.to_owned();
        }
        form
    }

    /// The form as a browser would send it back, for a link or a reload that keeps it.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = [
            ("name", &self.name),
            ("repository", &self.repository),
            ("branch", &self.branch),
            ("ecr_region", &self.ecr_region),
            ("ecr_repository", &self.ecr_repository),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
        for (i, env) in self.environments.iter().enumerate() {
            for field in ENV_TEXT {
                out.push((env_field(i, field), env.text(field).to_owned()));
            }
            if env.allow_self_approval {
                out.push((env_field(i, "allow_self_approval"), "on".into()));
            }
        }
        out
    }

    /// The form filled in from a pipeline, to edit it.
    pub fn from_spec(spec: &PipelineSpec) -> PipelineForm {
        PipelineForm {
            name: spec.name.clone(),
            repository: spec.repository.clone(),
            branch: spec.branch.clone(),
            ecr_region: spec.build.ecr_region.clone().unwrap_or_default(),
            ecr_repository: spec.ecr_repository.clone(),
            environments: spec
                .environments
                .iter()
                .map(|e| EnvironmentForm {
                    was: e.name.clone(),
                    name: e.name.clone(),
                    region: e.region.clone(),
                    cluster: e.cluster.clone(),
                    service: e.service.clone(),
                    container: e.container.clone(),
                    role_arn: e.deploy.role_arn.clone().unwrap_or_default(),
                    promotion: e.promotion.as_str().to_owned(),
                    required_approvals: e.deploy.approval.required_approvals.to_string(),
                    allow_self_approval: e.deploy.approval.allow_self_approval,
                    approvers: e.deploy.approval.approvers.join(", "),
                    approval_expiry: e.deploy.approval.expires_after.to_string(),
                })
                .collect(),
        }
    }

    /// A new pipeline's draft, and the inputs that could not even be read (a number that is
    /// not one). Validation of the draft names everything else.
    pub fn draft(&self) -> (PipelineDraft, Vec<FieldError>) {
        self.draft_over(&PipelineDraft::default())
    }

    /// The draft of an edit: `base` (the pipeline as it is) with what the form shows
    /// replaced, and each environment laid over the one it was.
    pub fn draft_over(&self, base: &PipelineDraft) -> (PipelineDraft, Vec<FieldError>) {
        let mut unreadable = Vec::new();
        let base_envs = base.environments.clone().unwrap_or_default();
        let environments = self
            .environments
            .iter()
            .enumerate()
            .map(|(i, env)| {
                let mut draft = base_envs
                    .iter()
                    .find(|b| !env.was.is_empty() && b.name.as_deref() == Some(env.was.trim()))
                    .cloned()
                    .unwrap_or_default();
                draft.name = optional(&env.name);
                draft.region = optional(&env.region);
                draft.cluster = optional(&env.cluster);
                draft.service = optional(&env.service);
                draft.container = optional(&env.container);
                draft.role_arn = optional(&env.role_arn);
                draft.promotion = optional(&env.promotion);
                draft.required_approvals = match optional(&env.required_approvals) {
                    None => None,
                    Some(n) => n.parse::<u8>().map(Some).unwrap_or_else(|_| {
                        unreadable.push(FieldError {
                            field: env_field(i, "required_approvals"),
                            message: format!("`{n}` is not a whole number from 1 to 10"),
                        });
                        None
                    }),
                };
                draft.allow_self_approval = Some(env.allow_self_approval);
                let approvers: Vec<String> = env
                    .approvers
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect();
                draft.approvers = (!approvers.is_empty()).then_some(approvers);
                draft.approval_expiry = optional(&env.approval_expiry);
                draft
            })
            .collect::<Vec<EnvironmentDraft>>();
        let draft = PipelineDraft {
            name: optional(&self.name),
            repository: optional(&self.repository),
            branch: optional(&self.branch),
            ecr_repository: optional(&self.ecr_repository),
            ecr_region: optional(&self.ecr_region),
            environments: Some(environments),
            ..base.clone()
        };
        (draft, unreadable)
    }

    /// The region the ECR repository is looked for in: the form's, else the first
    /// environment's.
    pub fn ecr_region(&self) -> Option<&str> {
        let region = self.ecr_region.trim();
        if region.is_empty() {
            self.environments
                .first()
                .map(|e| e.region.trim())
                .filter(|r| !r.is_empty())
        } else {
            Some(region)
        }
    }

    /// Applies a step other than [`FormStep::Import`] (which needs what AWS reports; see
    /// [`PipelineForm::import`]). A step naming an environment that is not there changes
    /// nothing.
    pub fn apply(&mut self, step: FormStep) {
        match step {
            FormStep::AddEnvironment => self.add_environment(),
            FormStep::RemoveEnvironment(i) if i < self.environments.len() => {
                self.environments.remove(i);
            }
            FormStep::MoveUp(i) if i > 0 && i < self.environments.len() => {
                self.environments.swap(i - 1, i);
            }
            _ => {}
        }
    }

    /// Adds an empty environment, in the previous one's region; the first promotes by
    /// itself, later ones wait for approval (the usual staging-then-production chain).
    pub fn add_environment(&mut self) {
        if self.environments.len() >= MAX_ENVIRONMENTS {
            return;
        }
        let region = self
            .environments
            .last()
            .map(|e| e.region.clone())
            .unwrap_or_default();
        let promotion = if self.environments.is_empty() {
            "auto"
        } else {
            "manual"
        };
        self.environments.push(EnvironmentForm {
            region,
            promotion: promotion.into(),
            ..EnvironmentForm::default()
        });
    }

    /// Fills an environment from a live service, as `ecspresso init` reads one: its region,
    /// cluster and service, and the container (the only one, or the one named like the
    /// service, or the first), and the role it was read as (empty: Shipgate's own identity).
    /// The last environment is filled if it names no service yet; otherwise one is added.
    /// An environment without a name is named after the cluster.
    pub fn import(
        &mut self,
        region: &str,
        role_arn: &str,
        cluster: &ClusterFound,
        service: &ServiceFound,
    ) {
        if self.environments.last().is_none_or(|e| !e.is_blank()) {
            if self.environments.len() >= MAX_ENVIRONMENTS {
                return;
            }
            self.add_environment();
        }
        let taken: Vec<String> = self.environments.iter().map(|e| e.name.clone()).collect();
        let env = self.environments.last_mut().expect("one was just ensured");
        env.region = region.to_owned();
        env.role_arn = role_arn.to_owned();
        env.cluster = cluster.name.clone();
        env.service = service.name.clone();
        env.container = match service.containers.as_slice() {
            [only] => only.clone(),
            all => all
                .iter()
                .find(|c| **c == service.name)
                .or_else(|| all.first())
                .cloned()
                .unwrap_or_default(),
        };
        if env.name.trim().is_empty() {
            env.name = unique_name(&slug(&cluster.name), &taken);
        }
    }
}

/// A name made into the slug environment names must be (lowercase letters, digits, `-`).
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let out: String = out.chars().take(60).collect();
    if out.is_empty() { "env".into() } else { out }
}

fn unique_name(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken.iter().any(|t| t == candidate))
        .expect("some number is free")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::DeploymentController;

    fn filled() -> Vec<(&'static str, &'static str)> {
        vec![
            ("name", "api"),
            ("repository", " octo-org/api "),
            ("branch", "main"),
            ("ecr_region", ""),
            ("ecr_repository", "api"),
            ("environments[0].name", "staging"),
            ("environments[0].region", "us-east-1"),
            ("environments[0].cluster", "stg"),
            ("environments[0].service", "api"),
            ("environments[0].container", "app"),
            ("environments[0].promotion", "auto"),
            ("environments[1].name", "production"),
            ("environments[1].region", "us-east-1"),
            ("environments[1].cluster", "prod"),
            ("environments[1].service", "api"),
            ("environments[1].container", "app"),
            (
                "environments[1].role_arn",
                "arn:aws:iam::222222222222:role/deployer",
            ),
            ("environments[1].promotion", "manual"),
            ("environments[1].required_approvals", "2"),
            (
                "environments[1].approvers",
                "alice@example.com, Bob@Example.com\ncarol@example.com",
            ),
            ("environments[1].approval_expiry", "2d"),
            ("environments[1].allow_self_approval", "on"),
            ("op", "add"),
        ]
    }

    #[test]
    fn a_filled_form_validates_as_the_api_would_read_the_same_pipeline() {
        let form = PipelineForm::from_pairs(filled());
        let (draft, unreadable) = form.draft();
        assert!(unreadable.is_empty());
        let spec = draft.validate().expect("valid");
        assert_eq!(spec.repository, "octo-org/api", "pasted spaces are trimmed");
        let production = &spec.environments[1];
        assert_eq!(production.deploy.approval.required_approvals, 2);
        assert_eq!(
            production.deploy.role_arn.as_deref(),
            Some("arn:aws:iam::222222222222:role/deployer")
        );
        assert_eq!(spec.environments[0].deploy.role_arn, None);
        assert!(production.deploy.approval.allow_self_approval);
        assert_eq!(
            production.deploy.approval.approvers,
            ["alice@example.com", "bob@example.com", "carol@example.com"]
        );
        assert_eq!(
            production.deploy.approval.expires_after,
            crate::Span::days(2)
        );
        assert!(!spec.environments[0].deploy.approval.allow_self_approval);
        assert_eq!(
            PipelineForm::from_spec(&spec).draft().0.validate().unwrap(),
            spec,
            "a pipeline read into the form and sent back is the same pipeline"
        );
    }

    #[test]
    fn errors_name_the_inputs_they_are_about() {
        let mut pairs = filled();
        pairs.retain(|(k, _)| *k != "environments[0].cluster");
        pairs.push(("environments[1].region", "mars"));
        pairs.push(("environments[1].required_approvals", "two"));
        pairs.push(("environments[1].role_arn", "deployer"));
        let (draft, unreadable) = PipelineForm::from_pairs(pairs).draft();
        assert_eq!(
            unreadable
                .iter()
                .map(|e| e.field.as_str())
                .collect::<Vec<_>>(),
            ["environments[1].required_approvals"]
        );
        let fields: Vec<String> = draft
            .validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "environments[0].cluster",
                "environments[1].region",
                "environments[1].role_arn"
            ],
            "each error names an input of the form"
        );
    }

    #[test]
    fn an_edit_keeps_what_the_form_does_not_show_even_through_a_rename() {
        let mut base: PipelineDraft = PipelineForm::from_pairs(filled()).draft().0;
        base.scan_gate = Some("high".into());
        base.environments.as_mut().unwrap()[1].deploy_timeout = Some("45m".into());
        base.environments.as_mut().unwrap()[1].auto_rollback = Some(true);
        let spec = base.validate().unwrap();
        let mut form = PipelineForm::from_spec(&spec);
        form.environments[1].name = "prod".into();
        form.environments.swap(0, 1);
        form.branch = "release".into();
        let edited = form
            .draft_over(&PipelineDraft::from(&spec))
            .0
            .validate()
            .unwrap();
        assert_eq!(edited.branch, "release");
        assert_eq!(edited.build.scan_gate, spec.build.scan_gate);
        let prod = &edited.environments[0];
        assert_eq!(prod.name, "prod");
        assert_eq!(prod.deploy.deploy_timeout, crate::Span::minutes(45));
        assert!(prod.deploy.auto_rollback);
        assert!(!edited.environments[1].deploy.auto_rollback);
    }

    #[test]
    fn the_form_survives_a_round_trip_through_its_pairs() {
        let form = PipelineForm::from_pairs(filled());
        assert_eq!(PipelineForm::from_pairs(form.pairs()), form);
    }

    #[test]
    fn a_hostile_index_makes_no_environment() {
        let form = PipelineForm::from_pairs([
            ("environments[99999999].name", "x"),
            ("environments[-1].name", "x"),
            ("environments[0]name", "x"),
            ("environments[16].name", "x"),
        ]);
        assert!(form.environments.is_empty());
    }

    #[test]
    fn steps_add_remove_and_reorder_environments() {
        let mut form = PipelineForm::default();
        form.apply(FormStep::AddEnvironment);
        assert_eq!(form.environments[0].promotion, "auto");
        form.environments[0].region = "eu-west-1".into();
        form.environments[0].name = "staging".into();
        form.apply(FormStep::AddEnvironment);
        assert_eq!(form.environments[1].promotion, "manual");
        assert_eq!(form.environments[1].region, "eu-west-1");
        form.environments[1].name = "production".into();
        form.apply(FormStep::MoveUp(1));
        assert_eq!(form.environments[0].name, "production");
        form.apply(FormStep::MoveUp(0));
        form.apply(FormStep::RemoveEnvironment(7));
        assert_eq!(form.environments.len(), 2);
        form.apply(FormStep::RemoveEnvironment(0));
        assert_eq!(form.environments[0].name, "staging");
        for step in [
            FormStep::AddEnvironment,
            FormStep::Import,
            FormStep::RemoveEnvironment(3),
            FormStep::MoveUp(2),
        ] {
            assert_eq!(FormStep::parse(&step.value()), Some(step));
        }
        assert_eq!(FormStep::parse("remove-99"), None);
        assert_eq!(FormStep::parse("up-x"), None);
        for _ in 0..40 {
            form.apply(FormStep::AddEnvironment);
        }
        assert_eq!(form.environments.len(), MAX_ENVIRONMENTS);
    }

    #[test]
    fn importing_a_live_service_fills_the_environment_from_what_ecs_reports() {
        let cluster = ClusterFound {
            name: "Staging_Cluster".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:cluster/Staging_Cluster".into(),
            services: vec![],
        };
        let service = |containers: &[&str]| ServiceFound {
            name: "api".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:service/Staging_Cluster/api".into(),
            task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/api:4".into(),
            containers: containers.iter().map(|c| (*c).to_owned()).collect(),
            launch_type: Some("FARGATE".into()),
            deployment_controller: DeploymentController::Ecs,
        };
        let mut form = PipelineForm::default();
        form.import("us-east-1", "", &cluster, &service(&["log-router", "api"]));
        let env = &form.environments[0];
        assert_eq!(
            (
                env.name.as_str(),
                env.region.as_str(),
                env.cluster.as_str(),
                env.service.as_str(),
                env.container.as_str(),
                env.promotion.as_str()
            ),
            (
                "staging-cluster",
                "us-east-1",
                "Staging_Cluster",
                "api",
                "api",
                "auto"
            )
        );
        form.import(
            "us-east-1",
            "arn:aws:iam::222222222222:role/deployer",
            &cluster,
            &service(&["web"]),
        );
        assert_eq!(form.environments.len(), 2, "a filled environment is kept");
        assert_eq!(form.environments[1].name, "staging-cluster-2");
        assert_eq!(form.environments[1].container, "web");
        assert_eq!(form.environments[1].promotion, "manual");
        assert_eq!(
            form.environments[1].role_arn, "arn:aws:iam::222222222222:role/deployer",
            "a service read as a role is deployed as that role"
        );
        assert_eq!(form.environments[0].role_arn, "");
        form.apply(FormStep::AddEnvironment);
        form.import("us-east-1", "", &cluster, &service(&["sidecar", "app"]));
        assert_eq!(form.environments.len(), 3, "an empty one is filled");
        assert_eq!(form.environments[2].container, "sidecar");
    }
}
