//! Customer settings in the embedded store: a table of their own in the same file,
//! `(customer, kind)` → JSON. A write is one redb transaction of its own: it moves no
//! configuration revision and appends nothing to the event log, so no watcher ever sees it.

use redb::TableDefinition;
use serde_json::Value;

use super::{storage, EmbeddedConfigStore};
use crate::config_store::{check_customer, CustomerSetting, Result, StoreError};

/// `(customer, kind)` → the setting's JSON.
pub(super) const CUSTOMER_SETTINGS: TableDefinition<'static, (&str, &str), &[u8]> =
    TableDefinition::new("customer_settings");

impl EmbeddedConfigStore {
    pub(super) async fn read_customer_setting(
        &self,
        kind: CustomerSetting,
        customer: &str,
    ) -> Result<Option<Value>> {
        check_customer(customer)?;
        let customer = customer.to_owned();
        self.blocking(move |inner| {
            let txn = inner.db.begin_read().map_err(storage)?;
            let table = txn.open_table(CUSTOMER_SETTINGS).map_err(storage)?;
            let Some(found) = table
                .get((customer.as_str(), kind.as_str()))
                .map_err(storage)?
            else {
                return Ok(None);
            };
            serde_json::from_slice(found.value())
                .map(Some)
                .map_err(|e| {
                    StoreError::Corrupt(format!(
                        "the {kind} setting of a customer is not json: {e}"
                    ))
                })
        })
        .await
    }

    pub(super) async fn write_customer_setting(
        &self,
        kind: CustomerSetting,
        customer: &str,
        value: &Value,
    ) -> Result<()> {
        check_customer(customer)?;
        let customer = customer.to_owned();
        let body = serde_json::to_vec(value)
            .map_err(|e| StoreError::Rejected(format!("unencodable value: {e}")))?;
        self.blocking(move |inner| {
            let txn = inner.db.begin_write().map_err(storage)?;
            txn.open_table(CUSTOMER_SETTINGS)
                .map_err(storage)?
                .insert((customer.as_str(), kind.as_str()), body.as_slice())
                .map_err(storage)?;
            txn.commit().map_err(storage)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::config_store::{ConfigStore, CustomerSetting, StoreError};
    use crate::embedded::EmbeddedConfigStore;

    #[tokio::test]
    async fn settings_are_kept_apart_from_the_configuration_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let kind = CustomerSetting::Notifications;
        {
            let store = EmbeddedConfigStore::open(dir.path()).unwrap();
            assert_eq!(store.customer_setting(kind, "sub:a").await.unwrap(), None);
            let value = json!({"email": true, "digest": "daily"});
            store
                .put_customer_setting(kind, "sub:a", value.clone())
                .await
                .unwrap();
            store
                .put_customer_setting(kind, "sub:b", json!({"email": false}))
                .await
                .unwrap();
            assert_eq!(
                store.customer_setting(kind, "sub:a").await.unwrap(),
                Some(value)
            );
            // Not configuration: no object, no revision, no event.
            let snapshot = store.snapshot().await.unwrap();
            assert_eq!((snapshot.revision, snapshot.objects.len()), (0, 0));
            let err = store
                .put_customer_setting(kind, "", json!({}))
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Rejected(_)), "{err}");
        }
        let store = EmbeddedConfigStore::open(dir.path()).unwrap();
        assert_eq!(
            store.customer_setting(kind, "sub:a").await.unwrap(),
            Some(json!({"email": true, "digest": "daily"}))
        );
        assert_eq!(
            store.customer_setting(kind, "sub:b").await.unwrap(),
            Some(json!({"email": false}))
        );
        assert_eq!(store.customer_setting(kind, "sub:c").await.unwrap(), None);
    }
}
