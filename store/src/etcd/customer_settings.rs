//! Customer settings on etcd: `<prefix>-customers/<customer>/<kind>`, holding the setting's JSON.
//!
//! The configuration lives under `<prefix>/`; `<prefix>-customers/` is outside that range, so no
//! snapshot, watch or whole-config replacement ever reads, sees or deletes a customer setting.
//! The customer comes first in the key so that everything kept for one customer is one prefix.

use etcd_client::PutOptions;
use serde_json::Value;

use super::{encode, EtcdConfigStore};
use crate::config_store::{check_customer, CustomerSetting, Result, StoreError};

impl EtcdConfigStore {
    /// The key of one customer's setting. The customer is percent-encoded (anything but ASCII
    /// letters, digits and `-_.~:,@`), so no customer name can reach into another's keys.
    pub(super) fn customer_key(&self, kind: CustomerSetting, customer: &str) -> String {
        format!(
            "{}-customers/{}/{}",
            self.prefix,
            escape(customer),
            kind.as_str()
        )
    }

    pub(super) async fn read_customer_setting(
        &self,
        kind: CustomerSetting,
        customer: &str,
    ) -> Result<Option<Value>> {
        check_customer(customer)?;
        let mut kv = self.kv.clone();
        let key = self.customer_key(kind, customer);
        let resp = self.call(kv.get(key.as_str(), None)).await?;
        let Some(found) = resp.kvs().first() else {
            return Ok(None);
        };
        serde_json::from_slice(found.value())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{key} is not json: {e}")))
    }

    pub(super) async fn write_customer_setting(
        &self,
        kind: CustomerSetting,
        customer: &str,
        value: &Value,
    ) -> Result<()> {
        check_customer(customer)?;
        let mut kv = self.kv.clone();
        let body = encode(value)?;
        let key = self.customer_key(kind, customer);
        self.call(kv.put(key, body, None::<PutOptions>)).await?;
        Ok(())
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:,@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn customers_stay_inside_their_segment() {
        assert_eq!(escape("sub:alice@example.com"), "sub:alice@example.com");
        assert_eq!(escape("../x/y z"), "..%2Fx%2Fy%20z");
        assert_eq!(escape("%2F"), "%252F");
        assert_eq!(escape("é"), "%C3%A9");
    }
}
