//! Rules both backends apply the same way.

use std::collections::HashSet;

use serde_json::Value;

use crate::config_store::{Precondition, Resource, Result, StoreError};

/// The one object a precondition is about, or `None` for one about a whole resource.
pub(crate) fn precondition_target(p: &Precondition) -> Option<(Resource, &str)> {
    match p {
        Precondition::Exists(r, id)
        | Precondition::Absent(r, id)
        | Precondition::ModRevision(r, id, _) => Some((*r, id)),
        Precondition::NoneWrittenSince(..) => None,
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
