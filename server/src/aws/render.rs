//! Rendering the next task-definition revision. The rule is narrow on purpose: the new
//! revision is the live one with one container's image pinned to a digest. Everything else
//! is carried over field by field, and the fields ECS fills in itself are left out, since
//! RegisterTaskDefinition would refuse them.

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{Tag, TaskDefinition};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("task definition {revision} has no container named `{container}`; it has: {available}")]
    NoSuchContainer {
        revision: String,
        container: String,
        available: String,
    },
    #[error("task definition {0} has no family")]
    NoFamily(String),
}

/// Fills `request` with `current`, except that `container` runs `image`; adds `tags`.
pub fn render_revision(
    request: RegisterTaskDefinitionFluentBuilder,
    current: &TaskDefinition,
    container: &str,
    image: &str,
    tags: Vec<Tag>,
) -> Result<RegisterTaskDefinitionFluentBuilder, RenderError> {
    let revision = current.task_definition_arn.clone().unwrap_or_default();
    let family = current
        .family
        .clone()
        .ok_or_else(|| RenderError::NoFamily(revision.clone()))?;
    let mut containers = current.container_definitions.clone().unwrap_or_default();
    let Some(target) = containers
        .iter_mut()
        .find(|c| c.name.as_deref() == Some(container))
    else {
        let available = containers
            .iter()
            .filter_map(|c| c.name.as_deref())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(RenderError::NoSuchContainer {
            revision,
            container: container.to_owned(),
            available,
        });
    };
    target.image = Some(image.to_owned());
    // Left out on purpose, as ECS sets them: task_definition_arn, revision, status,
    // requires_attributes, compatibilities, registered_at/by, deregistered_at,
    // delete_requested_at. (Inference accelerators are retired; ECS refuses them.)
    Ok(request
        .family(family)
        .set_task_role_arn(current.task_role_arn.clone())
        .set_execution_role_arn(current.execution_role_arn.clone())
        .set_network_mode(current.network_mode.clone())
        .set_container_definitions(Some(containers))
        .set_volumes(current.volumes.clone())
        .set_placement_constraints(current.placement_constraints.clone())
        .set_requires_compatibilities(current.requires_compatibilities.clone())
        .set_cpu(current.cpu.clone())
        .set_memory(current.memory.clone())
        .set_pid_mode(current.pid_mode.clone())
        .set_ipc_mode(current.ipc_mode.clone())
        .set_proxy_configuration(current.proxy_configuration.clone())
        .set_ephemeral_storage(current.ephemeral_storage.clone())
        .set_runtime_platform(current.runtime_platform.clone())
        .set_enable_fault_injection(current.enable_fault_injection)
        .set_tags(Some(tags)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        Compatibility, ContainerDefinition, KeyValuePair, NetworkMode, PortMapping,
    };

    fn client() -> aws_sdk_ecs::Client {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .build();
        aws_sdk_ecs::Client::from_conf(config)
    }

    fn live() -> TaskDefinition {
        TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:123456789012:task-definition/api:4")
            .family("api")
            .revision(4)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .execution_role_arn("arn:aws:iam::123456789012:role/exec")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/api:old")
                    .environment(KeyValuePair::builder().name("MODE").value("prod").build())
                    .port_mappings(PortMapping::builder().container_port(8080).build())
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder()
                    .name("sidecar")
                    .image("envoy:1.30")
                    .build(),
            )
            .build()
    }

    #[test]
    fn only_the_named_container_image_changes() {
        let pinned = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api@sha256:abc";
        let rendered = render_revision(
            client().register_task_definition(),
            &live(),
            "app",
            pinned,
            vec![],
        )
        .unwrap();
        let input = rendered.as_input();
        let containers = input.get_container_definitions().as_ref().unwrap();
        assert_eq!(containers[0].image.as_deref(), Some(pinned));
        assert_eq!(
            containers[1].image.as_deref(),
            Some("envoy:1.30"),
            "other containers keep their image"
        );
        let mut expected = live().container_definitions.unwrap();
        expected[0].image = Some(pinned.into());
        assert_eq!(
            containers, &expected,
            "everything else in the containers is kept"
        );
        assert_eq!(input.get_family().as_deref(), Some("api"));
        assert_eq!(input.get_cpu().as_deref(), Some("256"));
        assert_eq!(input.get_memory().as_deref(), Some("512"));
        assert_eq!(input.get_network_mode(), &Some(NetworkMode::Awsvpc));
        assert_eq!(
            input.get_execution_role_arn().as_deref(),
            Some("arn:aws:iam::123456789012:role/exec")
        );
    }

    #[test]
    fn a_missing_container_is_named_with_what_exists() {
        let err = render_revision(
            client().register_task_definition(),
            &live(),
            "web",
            "img",
            vec![],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "task definition arn:aws:ecs:us-east-1:123456789012:task-definition/api:4 has no container named `web`; it has: app, sidecar"
        );
    }
}
