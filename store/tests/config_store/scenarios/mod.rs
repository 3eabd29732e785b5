//! The scenario suite every `ConfigStore` backend passes. Each scenario gets a fresh, empty store.

mod reads;
mod writes;

use std::collections::BTreeMap;

use serde_json::Value;
use spend_store::config_store::{Change, Event, Precondition, Resource, StoreError, Versioned};

use reads::*;
use writes::*;

/// The objects of a snapshot by `(resource, id)`, values only.
fn contents(objects: &[Versioned]) -> BTreeMap<(Resource, String), Value> {
    objects
        .iter()
        .map(|v| ((v.resource, v.id.clone()), v.value.clone()))
        .collect()
}

fn expected(objects: &[(Resource, String, Value)]) -> BTreeMap<(Resource, String), Value> {
    objects
        .iter()
        .map(|(r, id, v)| ((*r, id.clone()), v.clone()))
        .collect()
}

fn apply(state: &mut BTreeMap<(Resource, String), Value>, event: &Event) {
    for change in &event.changes {
        match change {
            Change::Put(v) => {
                state.insert((v.resource, v.id.clone()), v.value.clone());
            }
            Change::Delete { resource, id } => {
                state.remove(&(*resource, id.clone()));
            }
        }
    }
}

fn is_precondition_failed(result: &Result<i64, StoreError>, expected: &Precondition) -> bool {
    matches!(result, Err(StoreError::PreconditionFailed(p)) if p == expected)
}

/// Runs each named scenario on the embedded store and on the shared etcd.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let backend = crate::support::Backend::embedded()?;
                    super::$name(&backend).await
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let Some(backend) = crate::support::Backend::shared_etcd().await? else {
                        return Ok(());
                    };
                    let result = super::$name(&backend).await;
                    backend.cleanup().await;
                    result
                }
            )*
        }
    };
}

scenarios!(
    starts_empty,
    crud_keeps_mod_revisions,
    list_is_one_resource_ordered_by_id,
    create_twice_is_refused,
    stale_if_match_is_refused,
    concurrent_if_match_has_one_winner,
    none_written_since_sees_later_writes_of_the_resource_only,
    exists_on_missing_program_writes_nothing,
    first_failing_precondition_is_reported,
    delete_of_missing_object_changes_nothing,
    replace_all_is_one_atomic_event,
    replace_all_refuses_duplicates,
    watch_delivers_every_later_event_in_order,
    snapshot_is_at_latest_revision,
    snapshot_orders_by_resource_then_id,
    decimals_round_trip_exactly,
    watch_config_follows_every_change,
);
