//! Rules both backends apply the same way.

use std::collections::HashSet;

use serde_json::Value;

use crate::config_store::{Precondition, Resource, Result, StoreError};

/// The object a precondition is about.
pub(crate) fn precondition_target(p: &Precondition) -> (Resource, &str) {
    match p {
        Precondition::Exists(r, id)
        | Precondition::Absent(r, id)
        | Precondition::ModRevision(r, id, _) => (*r, id),
    }
}

/// A replacement names each object once: etcd refuses the same key twice in one transaction,
/// and the embedded store refuses it the same way.
pub(crate) fn check_unique(objects: &[(Resource, String, Value)]) -> Result<()> {
    let mut seen = HashSet::with_capacity(objects.len());
    for (resource, id, _) in objects {
        if !seen.insert((*resource, id.as_str())) {
            return Err(StoreError::Rejected(format!(
                "{}/{id} appears more than once",
                resource.as_str()
            )));
        }
    }
    Ok(())
}
