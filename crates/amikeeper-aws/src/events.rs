//! [`EventsApi`] over `aws-sdk-eventbridge`: `PutEvents`, one result per entry.

use amikeeper::backend::{AwsResult, EventsApi};
use amikeeper::model::{EntryResult, EventEntry, Region};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::error::{invalid_response, sdk_error};
use crate::SdkAws;

const SERVICE: &str = "events";

#[async_trait]
impl EventsApi for SdkAws {
    async fn put_events(&self, region: &Region, entries: &[EventEntry]) -> AwsResult<Vec<EntryResult>> {
        let client = self.eventbridge(region)?;
        let request = entries.iter().map(|entry| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&entry.event_bus)
                .source(&entry.source)
                .detail_type(&entry.detail_type)
                .detail(&entry.detail)
                .set_resources(Some(entry.resources.clone()).filter(|r| !r.is_empty()))
                .build()
        });
        let output = client
            .put_events()
            .set_entries(Some(request.collect()))
            .send()
            .await
            .map_err(sdk_error(SERVICE, "PutEvents"))?;
        // One result per entry, in order (PutEvents' contract); a failed one has an error code.
        let results = output.entries();
        if results.len() != entries.len() {
            let message = format!("{} results for {} entries", results.len(), entries.len());
            return Err(invalid_response(SERVICE, "PutEvents", message));
        }
        let results: Vec<EntryResult> = results
            .iter()
            .map(|result| match (result.event_id(), result.error_code()) {
                (Some(id), None) => EntryResult::Accepted { event_id: id.to_owned() },
                (_, code) => EntryResult::Failed {
                    code: code.unwrap_or("Unknown").to_owned(),
                    message: result.error_message().unwrap_or_default().to_owned(),
                },
            })
            .collect();
        tracing::debug!(%region, entries = entries.len(), failed = output.failed_entry_count(), "put events");
        Ok(results)
    }
}
