//! The findings: pure checks of the pointers read.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use super::{Finding, FindingKind, FoundBy, PlaceRole, PointerImageState, PointerStatus};
use crate::model::ImageId;

/// What is wrong with `pointers` at `now`, a `copy_to` pointer allowed to lag its home pointer
/// by `max_lag`: dangling pointers, `copy_to` pointers that lag, pointers whose AMI lost
/// amikeeper's protection, and configured pointers of one rule in one account and region that
/// name different AMIs (pointers found by listing name one AMI each, and differ by design), and
/// pointers that name a rejected AMI.
pub fn findings(pointers: &[PointerStatus], max_lag: Duration, now: OffsetDateTime) -> Vec<Finding> {
    let mut found = Vec::new();
    for pointer in pointers {
        let mut finding = |kind, reason: String| found.push(finding(pointer, kind, reason));
        if let Some(reason) = dangling(pointer) {
            finding(FindingKind::Dangling, reason);
            continue;
        }
        let image = pointer.image.as_ref().expect("not dangling: the pointer names a described AMI");
        if let Some(rejection) = &image.rejected {
            finding(
                FindingKind::Rejected,
                format!("{} is {rejection}: `amikeeper revoke {}` moves this pointer back", image.id, image.id),
            );
        }
        if pointer.protect && !image.protected {
            finding(
                FindingKind::Unprotected,
                format!(
                    "{} lacks amikeeper's deregistration protection, which this target turns on for what it publishes: \
                     DLM, a script or a console click can deregister it (publishing it again turns it back on)",
                    image.id
                ),
            );
        }
        if pointer.place == PlaceRole::Copy {
            if let Some(reason) = lag(pointer, pointers, max_lag, now) {
                finding(FindingKind::DrLag, reason);
            }
        }
    }
    found.extend(disagreements(pointers));
    found
}

fn finding(pointer: &PointerStatus, kind: FindingKind, reason: String) -> Finding {
    Finding {
        kind,
        rule: pointer.rule.clone(),
        account: pointer.account.clone(),
        region: pointer.region.clone(),
        pointer_kind: pointer.kind,
        pointer: pointer.name.clone(),
        reason,
    }
}

/// Why `pointer` names nothing launchable, if it does not.
fn dangling(pointer: &PointerStatus) -> Option<String> {
    if !pointer.exists {
        return Some("it does not exist".into());
    }
    let Some(image) = &pointer.image else { return Some("it names no AMI".into()) };
    let what = match image.state {
        PointerImageState::Available => return None,
        PointerImageState::Deregistered => "deregistered, or EC2 no longer knows it",
        PointerImageState::Deprecated => "deprecated",
        PointerImageState::Disabled => "disabled",
        PointerImageState::Pending => "still pending",
        PointerImageState::Failed => "failed",
    };
    Some(format!("it names {}, which is {what}: instances cannot launch from it as expected", image.id))
}

/// Why the `copy_to` pointer `dr` lags the home pointer of its rule and target, if it does:
/// its AMI is not the copy of the home pointer's, and the home pointer moved more than
/// `max_lag` ago (sooner, the copy may still be on its way).
fn lag(dr: &PointerStatus, pointers: &[PointerStatus], max_lag: Duration, now: OffsetDateTime) -> Option<String> {
    let homes: Vec<&PointerStatus> =
        pointers.iter().filter(|p| p.place == PlaceRole::Home && p.rule == dr.rule && p.target == dr.target).collect();
    let home = match homes.iter().find(|p| p.name == dr.name) {
        Some(home) => *home,
        None if homes.len() == 1 => homes[0],
        None => return None,
    };
    let home_image = home.image.as_ref().filter(|_| home.exists)?;
    let dr_image = dr.image.as_ref()?;
    if copy_of(dr_image.copied_from.as_deref(), &home.region, &home_image.id) {
        return None;
    }
    let moved = home.last_moved.or(home_image.created);
    if moved.is_some_and(|at| now - at <= max_lag) {
        return None;
    }
    let since =
        moved.map_or("at a time AWS does not say".to_owned(), |at| format!("{} hours ago", (now - at).whole_hours()));
    Some(format!(
        "it names {} ({}), not the copy of {} that {} {} in {} names; that pointer moved {since}, longer than the \
         {} hours [status] dr_max_lag_hours allows",
        dr_image.id,
        dr_image
            .copied_from
            .as_deref()
            .map_or("not a copy amikeeper made".to_owned(), |from| format!("copied from {from}")),
        home_image.id,
        home.kind,
        home.name,
        home.region,
        max_lag.whole_hours(),
    ))
}

/// Whether an `amikeeper:copied-from` tag (`<region>/<ami>` or `<account>/<region>/<ami>`)
/// names `image` in `region`.
fn copy_of(tag: Option<&str>, region: &crate::model::Region, image: &ImageId) -> bool {
    let Some(tag) = tag else { return false };
    let mut parts = tag.rsplit('/');
    parts.next() == Some(image.as_str()) && parts.next() == Some(region.as_str())
}

/// Configured pointers of one rule in one account and region that name different AMIs.
fn disagreements(pointers: &[PointerStatus]) -> Vec<Finding> {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<&PointerStatus>> = BTreeMap::new();
    for pointer in pointers.iter().filter(|p| p.found_by == FoundBy::Configured && p.image_id.is_some()) {
        groups.entry((&pointer.rule, &pointer.account, pointer.region.as_str())).or_default().push(pointer);
    }
    let mut found = Vec::new();
    for group in groups.values() {
        let named: BTreeMap<&ImageId, Vec<String>> = group.iter().fold(BTreeMap::new(), |mut named, p| {
            let id = p.image_id.as_ref().expect("filtered: names an AMI");
            named.entry(id).or_insert_with(Vec::new).push(format!("{} {}", p.kind, p.name));
            named
        });
        if named.len() < 2 {
            continue;
        }
        let said: Vec<String> = named.iter().map(|(id, names)| format!("{} name {id}", names.join(", "))).collect();
        for pointer in group {
            let reason = format!("the pointers of rule {} here disagree: {}", pointer.rule, said.join("; "));
            found.push(finding(pointer, FindingKind::Disagree, reason));
        }
    }
    found
}
