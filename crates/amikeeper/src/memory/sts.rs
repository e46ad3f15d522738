//! Other in-memory accounts, reached by assuming a role in them.

use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::{Aws, AwsResult, StsApi};
use crate::error::{AwsError, AwsErrorKind};

use super::{ops, MemoryAws};

impl MemoryAws {
    /// Lets `AssumeRole` of `role_arn` reach `account` (another `MemoryAws`).
    pub fn add_role(&self, role_arn: impl Into<String>, account: Arc<MemoryAws>) {
        self.with_world(|world| world.roles.insert(role_arn.into(), account));
    }
}

#[async_trait]
impl StsApi for MemoryAws {
    async fn assume_role(&self, role_arn: &str, _external_id: Option<&str>) -> AwsResult<Arc<dyn Aws>> {
        self.call(ops::ASSUME_ROLE, |world| match world.roles.get(role_arn) {
            Some(account) => Ok(account.clone() as Arc<dyn Aws>),
            None => Err(AwsError::new(
                "sts",
                "AssumeRole",
                AwsErrorKind::Client,
                "AccessDenied",
                format!("User is not authorized to perform: sts:AssumeRole on resource: {role_arn}"),
            )),
        })
    }
}
