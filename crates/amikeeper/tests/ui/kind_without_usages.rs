//! A pointer kind that does not say where the sweep's in-use scan finds the AMIs its pointers
//! name (`in_use`) does not compile: otherwise the sweep could retire an AMI such a pointer
//! names, which production still boots from.

use amikeeper::backend::Aws;
use amikeeper::iam::{Job, TargetArns};
use amikeeper::kinds::{Invalid, NameFailure, NameKind, Names, Planned, PointerKind, RollbackContext, TargetTemplate};
use amikeeper::model::Region;
use amikeeper::publish::{PointerNow, Publisher, SsmParameterPublisher};
use amikeeper::template::NameTemplate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forgetful {
    name: NameTemplate,
}

#[async_trait::async_trait]
impl PointerKind for Forgetful {
    const KIND: &'static str = "forgetful";
    const POINTER_FORM: &'static str = "NAME";
    type Pointer = String;

    fn protect(&self) -> Option<bool> {
        None
    }

    fn templates(&self) -> Vec<TargetTemplate<'_>> {
        vec![TargetTemplate { field: "name", template: &self.name, name_kind: NameKind::Parameter }]
    }

    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }

    fn publisher(&self, names: &Names<'_>) -> Result<Box<dyn Publisher>, NameFailure> {
        Ok(Box::new(SsmParameterPublisher::new(names.render(&self.name, NameKind::Parameter)?)))
    }

    // No `in_use`: where would the sweep look for these pointers?

    fn handle_actions(&self) -> Vec<&'static str> {
        vec!["ssm:PutParameter"]
    }

    fn rollback_actions() -> &'static [&'static str] {
        &[]
    }

    fn iam_resources(&self, _job: Job, _action: &str, _arns: &TargetArns<'_>) -> Option<Vec<String>> {
        None
    }

    fn parse_pointer(name: &str) -> Option<String> {
        Some(name.to_owned())
    }

    fn pointer_name(pointer: &String) -> String {
        pointer.clone()
    }

    async fn read_pointer(_aws: &dyn Aws, _region: &Region, _pointer: &String) -> amikeeper::Result<PointerNow> {
        Ok(PointerNow::Unknown)
    }

    async fn plan_rollback(_pointer: &String, _ctx: &RollbackContext<'_, Self>) -> amikeeper::Result<Planned> {
        Ok(Err("not rolled back".into()))
    }

    async fn find_pointers(
        &self,
        _ctx: &amikeeper::kinds::found::FindContext<'_>,
    ) -> amikeeper::Result<Vec<amikeeper::kinds::found::FoundPointer>> {
        Ok(Vec::new())
    }
}

fn main() {}
