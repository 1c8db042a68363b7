//! An admin creates, replaces or deletes a pipeline, through the REST API or the dashboard's
//! form.

use super::{Acting, OpError, Ops};
use crate::store::pipelines::Saved;
use shipgate_pipeline::access::Action;
use shipgate_pipeline::pipeline_form::PipelineForm;
use shipgate_pipeline::read::PipelineRecord;
use shipgate_pipeline::{FieldError, PipelineDraft, PipelineSpec};

/// A pipeline draft, checked field by field.
fn validate(draft: &PipelineDraft) -> Result<PipelineSpec, OpError> {
    draft.validate().map_err(|e| OpError::Invalid {
        message: format!("invalid pipeline: {e}"),
        fields: e.errors,
    })
}

/// A form's draft, refused with every problem at once: the inputs that could not be read,
/// then what validation says of the rest.
fn check_form(draft: &PipelineDraft, mut unreadable: Vec<FieldError>) -> Result<(), OpError> {
    if let Err(e) = draft.validate() {
        unreadable.extend(e.errors);
    }
    if unreadable.is_empty() {
        return Ok(());
    }
    let e = shipgate_pipeline::InvalidSpec { errors: unreadable };
    Err(OpError::Invalid {
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
        let record = self
            .store
            .create_pipeline(&spec, "api", &who.audit())
            .await?;
        self.first_verify(who, &spec.name).await;
        Ok(record)
    }

    /// A new pipeline is verified at once, so its Set up page shows what is missing (and
    /// fills in the account and roles) without anyone asking. The pipeline is saved either
    /// way; a Verify that could not be recorded is asked for by hand.
    async fn first_verify(&self, who: &Acting, name: &str) {
        if let Err(e) = self.request_verify(who, name).await {
            tracing::warn!(pipeline = %name, error = %e, "could not request the first Verify");
        }
        // Its branch head is read at once too: the baseline later pushes are compared with.
        self.engine.wake_reconcile();
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
        let (saved, record) = self.store.put_pipeline(&spec, "api", &who.audit()).await?;
        match saved {
            Saved::Created => self.first_verify(who, &spec.name).await,
            // The branch may have changed: read its head afresh, without the old ETag.
            Saved::Updated => {
                if let Err(e) = self.store.reconcile_soon(&spec.name).await {
                    tracing::warn!(pipeline = %spec.name, error = %e, "could not ask for a reconcile of the changed pipeline");
                }
                self.engine.wake_reconcile();
            }
            Saved::Unchanged => {}
        }
        Ok((saved, record))
    }

    /// Saves the dashboard's pipeline form: a new pipeline, or (`editing`) the edit of one,
    /// laid over its current definition so that what the form does not show is kept. The
    /// draft is checked as the REST API's is, and every problem is named by its input.
    pub async fn save_pipeline_form(
        &self,
        who: &Acting,
        editing: Option<&str>,
        form: &PipelineForm,
    ) -> Result<PipelineRecord, OpError> {
        who.require(Action::Administer)?;
        let Some(name) = editing else {
            let (draft, unreadable) = form.draft();
            check_form(&draft, unreadable)?;
            return self.create_pipeline(who, &draft).await;
        };
        let current = self
            .store
            .get_pipeline(name)
            .await?
            .ok_or_else(|| OpError::NotFound(format!("pipeline `{name}` does not exist")))?;
        let (draft, unreadable) = form.draft_over(&PipelineDraft::from(&current.spec));
        check_form(&draft, unreadable)?;
        Ok(self.put_pipeline(who, name, draft).await?.1)
    }

    pub async fn delete_pipeline(&self, who: &Acting, name: &str) -> Result<(), OpError> {
        who.require(Action::Administer)?;
        Ok(self.store.delete_pipeline(name, &who.audit()).await?)
    }
}
