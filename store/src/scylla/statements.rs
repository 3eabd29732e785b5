//! Every statement the store runs, prepared once per store.

use ::scylla::client::session::Session;
use ::scylla::statement::prepared::PreparedStatement;
use ::scylla::statement::Consistency;

use super::rows::COLUMNS;
use super::unavailable;
use crate::reward_store::{Result, RewardStoreError};

pub(super) struct Statements {
    pub(super) get: PreparedStatement,
    pub(super) get_serial: PreparedStatement,
    pub(super) get_status: PreparedStatement,
    pub(super) insert_if_absent: PreparedStatement,
    pub(super) replace_dead_letter: PreparedStatement,
    pub(super) insert_history: PreparedStatement,
    pub(super) history_exists: PreparedStatement,
    pub(super) delete_history: PreparedStatement,
    pub(super) insert_card_month: PreparedStatement,
    pub(super) card_months: PreparedStatement,
    pub(super) history_upto: PreparedStatement,
    pub(super) history_after: PreparedStatement,
    pub(super) summary: PreparedStatement,
    pub(super) insert_reversal: PreparedStatement,
    pub(super) reversal_exists: PreparedStatement,
    pub(super) delete_reversal: PreparedStatement,
    pub(super) reversals_of: PreparedStatement,
    pub(super) ping: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session, ks: &str) -> Result<Self> {
        let prepare = |text: String, idempotent: bool| async move {
            let mut st = session.prepare(text).await.map_err(unavailable)?;
            st.set_is_idempotent(idempotent);
            Ok::<_, RewardStoreError>(st)
        };
        let markers = COLUMNS
            .split(", ")
            .map(|c| format!(":{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let assignments = COLUMNS
            .split(", ")
            .filter(|c| *c != "id")
            .map(|c| format!("{c} = :{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let select = format!("SELECT {COLUMNS} FROM {ks}.outcomes WHERE id = ?");
        let mut get_serial = prepare(select.clone(), true).await?;
        get_serial.set_consistency(Consistency::LocalSerial);
        Ok(Self {
            get: prepare(select, true).await?,
            get_serial,
            get_status: prepare(
                format!("SELECT status FROM {ks}.outcomes WHERE id = ?"),
                true,
            )
            .await?,
            insert_if_absent: prepare(
                format!("INSERT INTO {ks}.outcomes ({COLUMNS}) VALUES ({markers}) IF NOT EXISTS"),
                false,
            )
            .await?,
            replace_dead_letter: prepare(
                format!(
                    "UPDATE {ks}.outcomes SET {assignments} WHERE id = :id \
                     IF status = :expected_status"
                ),
                false,
            )
            .await?,
            insert_history: prepare(
                format!("INSERT INTO {ks}.history ({COLUMNS}, month) VALUES ({markers}, :month)"),
                true,
            )
            .await?,
            history_exists: prepare(
                format!(
                    "SELECT id FROM {ks}.history WHERE card_id = ? AND month = ? \
                     AND transaction_date = ? AND id = ?"
                ),
                true,
            )
            .await?,
            delete_history: prepare(
                format!(
                    "DELETE FROM {ks}.history WHERE card_id = ? AND month = ? \
                     AND transaction_date = ? AND id = ?"
                ),
                true,
            )
            .await?,
            insert_card_month: prepare(
                format!("INSERT INTO {ks}.card_months (card_id, month) VALUES (?, ?)"),
                true,
            )
            .await?,
            card_months: prepare(
                format!(
                    "SELECT month FROM {ks}.card_months WHERE card_id = ? \
                     AND month >= ? AND month <= ?"
                ),
                true,
            )
            .await?,
            history_upto: prepare(
                format!(
                    "SELECT {COLUMNS} FROM {ks}.history WHERE card_id = ? AND month = ? \
                     AND transaction_date <= ? LIMIT ?"
                ),
                true,
            )
            .await?,
            history_after: prepare(
                format!(
                    "SELECT {COLUMNS} FROM {ks}.history WHERE card_id = ? AND month = ? \
                     AND (transaction_date, id) < (?, ?) LIMIT ?"
                ),
                true,
            )
            .await?,
            summary: prepare(
                format!(
                    "SELECT unit, reward FROM {ks}.history WHERE card_id = ? AND month = ? \
                     AND transaction_date >= ? AND transaction_date <= ?"
                ),
                true,
            )
            .await?,
            insert_reversal: prepare(
                format!(
                    "INSERT INTO {ks}.reversals (original_id, reversal_id, magnitude) \
                     VALUES (?, ?, ?)"
                ),
                true,
            )
            .await?,
            reversal_exists: prepare(
                format!(
                    "SELECT reversal_id FROM {ks}.reversals WHERE original_id = ? \
                     AND reversal_id = ?"
                ),
                true,
            )
            .await?,
            delete_reversal: prepare(
                format!("DELETE FROM {ks}.reversals WHERE original_id = ? AND reversal_id = ?"),
                true,
            )
            .await?,
            reversals_of: prepare(
                format!("SELECT reversal_id FROM {ks}.reversals WHERE original_id = ?"),
                true,
            )
            .await?,
            ping: prepare("SELECT release_version FROM system.local".into(), true).await?,
        })
    }
}
