//! Every statement the store runs, prepared once per store.

use ::scylla::client::session::Session;
use ::scylla::statement::prepared::PreparedStatement;
use ::scylla::statement::Consistency;

use super::errors::SetupError;
use super::rows::COLUMNS;

pub(super) struct Statements {
    pub(super) get: PreparedStatement,
    pub(super) get_serial: PreparedStatement,
    pub(super) insert_if_absent: PreparedStatement,
    pub(super) replace_dead_letter: PreparedStatement,
    pub(super) insert_history: PreparedStatement,
    pub(super) insert_card_month: PreparedStatement,
    pub(super) card_months: PreparedStatement,
    pub(super) history_upto: PreparedStatement,
    pub(super) history_before: PreparedStatement,
    pub(super) history_tie: PreparedStatement,
    pub(super) summary: PreparedStatement,
    pub(super) insert_reversal: PreparedStatement,
    pub(super) reversals_of: PreparedStatement,
    pub(super) get_pending: PreparedStatement,
    pub(super) get_pending_serial: PreparedStatement,
    pub(super) clear_pending: PreparedStatement,
    pub(super) insert_mission_state: PreparedStatement,
    pub(super) mission_states_of: PreparedStatement,
    pub(super) ping: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session, ks: &str) -> Result<Self, SetupError> {
        let prepare = |text: String, idempotent: bool| async move {
            let mut st = session
                .prepare(text)
                .await
                .map_err(SetupError::from_prepare)?;
            st.set_is_idempotent(idempotent);
            Ok::<_, SetupError>(st)
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
        // A read at SERIAL sees any decision a lightweight transaction has made, in any DC
        // (completing one in flight), where LOCAL_QUORUM might not yet.
        let mut get_serial = prepare(select.clone(), true).await?;
        get_serial.set_consistency(Consistency::Serial);
        let select_pending = format!("SELECT pending_missions FROM {ks}.outcomes WHERE id = ?");
        let mut get_pending_serial = prepare(select_pending.clone(), true).await?;
        get_pending_serial.set_consistency(Consistency::Serial);
        Ok(Self {
            get: prepare(select, true).await?,
            get_serial,
            // A reward's mission writes are decided with it (`pending_missions`).
            insert_if_absent: prepare(
                format!(
                    "INSERT INTO {ks}.outcomes ({COLUMNS}, pending_missions) \
                     VALUES ({markers}, :pending_missions) IF NOT EXISTS"
                ),
                false,
            )
            .await?,
            replace_dead_letter: prepare(
                format!(
                    "UPDATE {ks}.outcomes SET {assignments}, pending_missions = :pending_missions \
                     WHERE id = :id IF status = :expected_status"
                ),
                false,
            )
            .await?,
            insert_history: prepare(
                format!(
                    "INSERT INTO {ks}.history ({COLUMNS}, month, id_order) \
                     VALUES ({markers}, :month, :id_order)"
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
            // Every history slice is bounded on both dates and by LIMIT: no row below the
            // range's `from` is read only to be thrown away.
            history_upto: prepare(
                format!(
                    "SELECT {COLUMNS} FROM {ks}.history WHERE card_id = ? AND month = ? \
                     AND transaction_date <= ? AND transaction_date >= ? LIMIT ?"
                ),
                true,
            )
            .await?,
            history_before: prepare(
                format!(
                    "SELECT {COLUMNS} FROM {ks}.history WHERE card_id = ? AND month = ? \
                     AND transaction_date < ? AND transaction_date >= ? LIMIT ?"
                ),
                true,
            )
            .await?,
            // The cursor's own date: the ties after the cursor in clustering order.
            history_tie: prepare(
                format!(
                    "SELECT {COLUMNS} FROM {ks}.history WHERE card_id = ? AND month = ? \
                     AND transaction_date = ? AND id_order < ? LIMIT ?"
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
            reversals_of: prepare(
                format!("SELECT reversal_id, magnitude FROM {ks}.reversals WHERE original_id = ?"),
                true,
            )
            .await?,
            get_pending: prepare(select_pending, true).await?,
            get_pending_serial,
            clear_pending: prepare(
                format!("DELETE pending_missions FROM {ks}.outcomes WHERE id = ?"),
                true,
            )
            .await?,
            // Always at the state's version: the later state wins, in any order of arrival
            // (`missions.rs`).
            insert_mission_state: prepare(
                format!(
                    "INSERT INTO {ks}.mission_states (card_id, mission_id, state) \
                     VALUES (?, ?, ?) USING TIMESTAMP ?"
                ),
                true,
            )
            .await?,
            mission_states_of: prepare(
                format!("SELECT mission_id, state FROM {ks}.mission_states WHERE card_id = ?"),
                true,
            )
            .await?,
            ping: prepare("SELECT release_version FROM system.local".into(), true).await?,
        })
    }
}
