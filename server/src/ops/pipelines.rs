//! An admin creates, replaces or deletes a pipeline.

use super::{Acting, OpError, Ops};
use crate::store::pipelines::Saved;
use shipgate_pipeline::access::Action;
use shipgate_pipeline::read::PipelineRecord;
use shipgate_pipeline::{PipelineDraft, PipelineSpec};

/// A pipeline draft, checked field by field.
fn validate(draft: &PipelineDraft) -> Result<PipelineSpec, OpError> {
    draft.validate().map_err(|e| OpError::Invalid {
        message: format!("invalid pipeline: {e}"),
        fields: e.errors,
    })
}

impl Ops {
    /// A new pipeline; refused if one of that name exists.
    pub async fn create_pipeline(
        &self,
        who: &Acting,
        draft: &PipelineDraft,
    ) -> Result<PipelineRecord, OpError> {
        who.require(Action::Administer)?;
        let spec = validate(draft)?;
        Ok(self
            .store
            .create_pipeline(&spec, "api", &who.audit())
            .await?)
    }

    /// Creates the pipeline `name`, or replaces it. A draft that names another pipeline is
    /// refused rather than moved.
    pub async fn put_pipeline(
        &self,
        who: &Acting,
        name: &str,
        mut draft: PipelineDraft,
    ) -> Result<(Saved, PipelineRecord), OpError> {
        who.require(Action::Administer)?;
        match &draft.name {
            None => draft.name = Some(name.to_owned()),
            Some(n) if n != name => {
                return Err(OpError::Invalid {
                    message: format!(
                        "name: `{n}` does not match the pipeline in the URL, `{name}`"
                    ),
                    fields: vec![shipgate_pipeline::FieldError {
                        field: "name".into(),
                        message: format!("must be `{name}`, as in the URL"),
                    }],
                });
            }
            Some(_) => {}
        }
        let spec = validate(&draft)?;
        Ok(self.store.put_pipeline(&spec, "api", &who.audit()).await?)
    }

    pub async fn delete_pipeline(&self, who: &Acting, name: &str) -> Result<(), OpError> {
        who.require(Action::Administer)?;
        Ok(self.store.delete_pipeline(name, &who.audit()).await?)
    }
}
