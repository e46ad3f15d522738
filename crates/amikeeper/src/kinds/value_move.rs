//! The rollback of a pointer whose value is the AMI id (an SSM parameter, a stack parameter):
//! the value it holds now, the AMI it gets back, and how that is written.

use async_trait::async_trait;

use super::RollbackMove;
use crate::backend::Aws;
use crate::error::Result;
use crate::model::{ImageId, Region};

/// How an earlier value is written back into a pointer.
#[async_trait]
pub(super) trait WriteBack: Send + Sync {
    /// What is done, in words (the first part of [`RollbackMove::describe`]).
    const DOES: &'static str;

    /// Writes `to` into the pointer; `Ok(Some(why))` when AWS says nothing changed.
    async fn write_back(&self, aws: &dyn Aws, region: &Region, to: &ImageId) -> Result<Option<String>>;
}

/// Put an earlier value back: the pointer holds `from` and will hold `to`.
pub(super) struct ValueMove<W> {
    /// The value the pointer holds now.
    pub(super) from: String,
    /// The AMI it is rolled back to.
    pub(super) to: ImageId,
    /// How it is written.
    pub(super) write: W,
}

#[async_trait]
impl<W: WriteBack> RollbackMove for ValueMove<W> {
    fn image(&self) -> &ImageId {
        &self.to
    }

    fn image_before(&self) -> Option<ImageId> {
        crate::protect::first_image_id(&self.from)
    }

    fn describe(&self) -> (String, String, String) {
        (W::DOES.into(), self.from.clone(), self.to.to_string())
    }

    async fn write(&self, aws: &dyn Aws, region: &Region) -> Result<Option<String>> {
        self.write.write_back(aws, region, &self.to).await
    }
}
