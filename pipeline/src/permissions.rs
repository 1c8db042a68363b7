//! The one list of what Shipgate calls on AWS. The setup kit writes Shipgate's IAM policy
//! from it, Verify checks each entry, and the README's permission list is generated from
//! it (a test keeps the README in step), so the three cannot drift apart.

/// Whether a call only reads (Verify tries it for real) or changes something (Verify asks
/// IAM's simulator, never the call itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// What a permission is granted on, for one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PermissionScope {
    /// Each environment's ECS cluster.
    Cluster,
    /// Each environment's ECS service.
    Service,
    /// The live task definitions' families (new revisions are registered in them).
    TaskDefinitionFamily,
    /// The pipeline's ECR repository.
    Repository,
    /// The task and execution roles of the live task definitions.
    PassedRoles,
    /// Each environment's `role_arn`.
    AssumedRoles,
    /// The principal whose policies Verify simulates: Shipgate's own IAM user or role,
    /// or an environment's `role_arn` (asked through the role itself).
    OwnPrincipal,
    /// AWS accepts only `*` for this action.
    Any,
}

/// One AWS action Shipgate calls, on what, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub action: &'static str,
    pub access: Access,
    pub scope: PermissionScope,
    /// Only Verify uses it, and Verify says `not_checked` without it: Shipgate works
    /// without the permission. Verify skips these when it checks the read permissions.
    pub optional: bool,
    pub why: &'static str,
}

const fn needed(
    action: &'static str,
    access: Access,
    scope: PermissionScope,
    why: &'static str,
) -> Permission {
    Permission {
        action,
        access,
        scope,
        optional: false,
        why,
    }
}

use Access::{Read, Write};
use PermissionScope as S;

/// Every AWS action Shipgate's engine, discovery and Verify call, in the order a policy
/// lists them. `sts:GetCallerIdentity` (Verify's first call) is not here: AWS allows it
/// to every identity, so no policy grants or denies it.
pub const ENGINE_PERMISSIONS: &[Permission] = &[
    needed(
        "ecr:DescribeImages",
        Read,
        S::Repository,
        "finds the image CI pushed under the run's tag, and lists the Images page",
    ),
    needed(
        "ecr:DescribeRepositories",
        Read,
        S::Repository,
        "reads the repository's URI and settings",
    ),
    needed(
        "ecr:DescribeImageScanFindings",
        Read,
        S::Repository,
        "reads the image's scan for the scan gate",
    ),
    needed(
        "ecs:DescribeServices",
        Read,
        S::Service,
        "follows each rollout and the Services page",
    ),
    needed(
        "ecs:DescribeTaskDefinition",
        Read,
        S::Any,
        "reads the live revision it renders the new one from",
    ),
    needed(
        "ecs:ListTaskDefinitions",
        Read,
        S::Any,
        "finds a revision it registered before a restart",
    ),
    needed(
        "ecs:ListClusters",
        Read,
        S::Any,
        "lists clusters for the pipeline form",
    ),
    needed(
        "ecs:DescribeClusters",
        Read,
        S::Cluster,
        "reads each cluster for the pipeline form and Verify",
    ),
    needed(
        "ecs:ListServices",
        Read,
        S::Any,
        "lists services for the pipeline form",
    ),
    needed(
        "ecs:RegisterTaskDefinition",
        Write,
        S::Any,
        "registers the revision pinned to the run's image digest",
    ),
    needed(
        "ecs:TagResource",
        Write,
        S::TaskDefinitionFamily,
        "tags that revision with its run and environment as it is registered",
    ),
    needed(
        "ecs:UpdateService",
        Write,
        S::Service,
        "deploys the revision",
    ),
    needed(
        "iam:PassRole",
        Write,
        S::PassedRoles,
        "hands the task and execution roles to the new revision (only to ECS tasks)",
    ),
    needed(
        "sts:AssumeRole",
        Write,
        S::AssumedRoles,
        "acts as an environment's role_arn in another account",
    ),
    Permission {
        action: "iam:GetRole",
        access: Read,
        scope: S::PassedRoles,
        optional: true,
        why: "only Verify calls it, to check that the task and execution roles exist",
    },
    Permission {
        action: "iam:SimulatePrincipalPolicy",
        access: Read,
        scope: S::OwnPrincipal,
        optional: true,
        why: "only Verify calls it, to check the write permissions without making the calls",
    },
];

impl PermissionScope {
    /// How the README names what the action is granted on.
    fn described(self) -> &'static str {
        match self {
            S::Cluster => "each environment's cluster",
            S::Service => "each environment's service",
            S::TaskDefinitionFamily => "the live task definitions' families",
            S::Repository => "the pipeline's ECR repository",
            S::PassedRoles => "the live task and execution roles",
            S::AssumedRoles => "each environment's `role_arn`",
            S::OwnPrincipal => "Shipgate's own user or role (and each `role_arn` on itself)",
            S::Any => "`*` (AWS allows no narrower resource)",
        }
    }
}

/// The README's list of Shipgate's permissions, as Markdown bullets.
pub fn permissions_markdown() -> String {
    let mut text = String::new();
    for (title, access) in [("Reads", Read), ("Writes", Write)] {
        text.push_str(&format!("{title}:\n\n"));
        for p in ENGINE_PERMISSIONS.iter().filter(|p| p.access == access) {
            text.push_str(&format!(
                "- `{}` on {}: {}{}\n",
                p.action,
                p.scope.described(),
                p.why,
                if p.optional { " (optional)" } else { "" }
            ));
        }
        text.push('\n');
    }
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_listed_once() {
        let mut actions: Vec<&str> = ENGINE_PERMISSIONS.iter().map(|p| p.action).collect();
        let count = actions.len();
        actions.sort_unstable();
        actions.dedup();
        assert_eq!(actions.len(), count);
        assert!(actions.iter().all(|a| {
            a.split_once(':')
                .is_some_and(|(s, n)| !s.is_empty() && n.starts_with(char::is_uppercase))
        }));
    }

    #[test]
    fn only_verifys_reads_are_optional_and_each_says_so() {
        for p in ENGINE_PERMISSIONS.iter().filter(|p| p.optional) {
            assert_eq!(p.access, Read, "{}", p.action);
            assert!(p.why.starts_with("only Verify calls it"), "{}", p.action);
        }
        let optional: Vec<&str> = ENGINE_PERMISSIONS
            .iter()
            .filter(|p| p.optional)
            .map(|p| p.action)
            .collect();
        assert_eq!(optional, ["iam:GetRole", "iam:SimulatePrincipalPolicy"]);
        assert_eq!(
            permissions_markdown()
                .lines()
                .filter(|l| l.ends_with("(optional)"))
                .count(),
            2
        );
    }

    #[test]
    fn the_readme_lists_exactly_these_permissions() {
        let readme = include_str!("../../README.md");
        let start = "<!-- shipgate-permissions:start -->\n";
        let end = "<!-- shipgate-permissions:end -->";
        let from = readme
            .find(start)
            .expect("the README marks its permission list")
            + start.len();
        let to = readme[from..].find(end).expect("the list's end marker") + from;
        assert_eq!(
            readme[from..to].trim(),
            permissions_markdown(),
            "README.md's permission list is generated: paste permissions_markdown()'s output between the markers"
        );
    }
}
