//! Machines in D1, and the machine operations shared by the HTTP routes and the socket
//! events (`machine-alive`, `machine-update-metadata`, `machine-update-state`).
//!
//! Machine ids are global: an id registered by one account answers 409 to every other one,
//! and every read or write filters by the caller's account, so another account's machine is
//! absent (404) everywhere else. Operations follow the shape of `db::sessions`: one batch,
//! the answer decided from what it returned, events handed back as an [`Outbox`].

use serde::Deserialize;

use crate::args;
use crate::config::now_ms;
use crate::db::sessions::heartbeat_time;
use crate::db::versioned::{self, Column, Outcome};
use crate::db::{bump_account_seq_if, first_row, Db, SeqRow};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, machines as ev, Outbox, Recipients};

const COLUMNS: &str = "id, account_id, metadata, metadata_version, daemon_state, daemon_state_version, \
                       data_encryption_key, seq, active, last_active_at, created_at, updated_at";

/// The machine `?2` of account `?1`.
const OWNED: &str = "account_id = ?1 AND id = ?2";

#[derive(Debug, Clone, Deserialize)]
pub struct MachineRow {
    pub id: String,
    pub account_id: String,
    pub metadata: String,
    pub metadata_version: i64,
    pub daemon_state: Option<String>,
    pub daemon_state_version: i64,
    pub data_encryption_key: Option<String>,
    pub seq: i64,
    pub active: i64,
    pub last_active_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn not_found() -> ApiError {
    ApiError::not_found("Machine not found")
}

/// POST /v1/machines input, already validated.
pub struct NewMachine<'a> {
    pub id: &'a str,
    pub metadata: &'a str,
    pub daemon_state: Option<&'a str>,
    pub data_encryption_key: Option<&'a str>,
}

/// Registers a machine, or returns the caller's existing one unchanged. `Err(409)` when the
/// id belongs to another account. A new machine emits `new-machine` to *user* and
/// `update-machine` to *machine*.
pub async fn register(db: &Db, user_id: &str, input: &NewMachine<'_>) -> ApiResult<(MachineRow, Outbox)> {
    let now = now_ms();
    // Both seqs are allocated only if the insert below happens (same predicate, same batch).
    let is_new = "NOT EXISTS (SELECT 1 FROM machines WHERE id = ?2)";
    let results = db
        .batch(vec![
            bump_account_seq_if(db, user_id, is_new, args![input.id])?,
            bump_account_seq_if(db, user_id, is_new, args![input.id])?,
            db.stmt(
                "INSERT INTO machines (id, account_id, metadata, metadata_version, daemon_state, daemon_state_version,
                 data_encryption_key, active, last_active_at, created_at, updated_at)
                 VALUES (?2, ?1, ?3, 1, ?4, CASE WHEN ?4 IS NULL THEN 0 ELSE 1 END, ?5, 0, ?6, ?6, ?6)
                 ON CONFLICT (id) DO NOTHING",
                args![user_id, input.id, input.metadata, input.daemon_state, input.data_encryption_key, now],
            )?,
            db.stmt(&format!("SELECT {COLUMNS} FROM machines WHERE id = ?1"), args![input.id])?,
        ])
        .await?;
    let machine: MachineRow =
        first_row(&results[3])?.ok_or_else(|| ApiError::internal("machine upsert returned nothing"))?;
    if machine.account_id != user_id {
        return Err(ApiError::conflict("Machine id is registered to another account"));
    }
    let mut outbox = Outbox::default();
    if let (Some(a), Some(b)) = (first_row::<SeqRow>(&results[0])?, first_row::<SeqRow>(&results[1])?) {
        let daemon_state = machine.daemon_state.as_ref().map(|d| (Some(d.as_str()), machine.daemon_state_version));
        outbox = outbox.update(a.seq, ev::new_machine(&machine), Recipients::User).update(
            b.seq,
            ev::update_machine(&machine.id, Some((&machine.metadata, machine.metadata_version)), daemon_state),
            events::machine(&machine.id),
        );
    }
    Ok((machine, outbox))
}

/// GET /v1/machines: most recently active first.
pub async fn list(db: &Db, user_id: &str, limit: u32, active_only: bool) -> ApiResult<Vec<MachineRow>> {
    db.all(
        &format!(
            "SELECT {COLUMNS} FROM machines WHERE account_id = ?1 AND (?2 = 0 OR active = 1)
             ORDER BY last_active_at DESC LIMIT ?3"
        ),
        args![user_id, active_only, limit],
    )
    .await
}

pub async fn get(db: &Db, user_id: &str, machine_id: &str) -> ApiResult<Option<MachineRow>> {
    db.first(&format!("SELECT {COLUMNS} FROM machines WHERE {OWNED}"), args![user_id, machine_id]).await
}

/// PUT /v1/machines/:id/status input: each present field is written.
pub struct StatusChange<'a> {
    pub active: Option<bool>,
    pub metadata: Option<&'a str>,
    pub daemon_state: Option<&'a str>,
}

/// PUT /v1/machines/:id/status: always refreshes `lastActiveAt`; writes what is given (each
/// opaque value bumps its version and the machine seq). Emits `update-machine` to *machine*
/// when metadata or daemonState changed, and `machine-activity` when `active` was given.
pub async fn update_status(
    db: &Db,
    user_id: &str,
    machine_id: &str,
    change: &StatusChange<'_>,
) -> ApiResult<(MachineRow, Outbox)> {
    let now = now_ms();
    let changes_data = change.metadata.is_some() || change.daemon_state.is_some();
    let mut stmts = Vec::new();
    if changes_data {
        stmts.push(bump_account_seq_if(
            db,
            user_id,
            &format!("EXISTS (SELECT 1 FROM machines WHERE {OWNED})"),
            args![machine_id],
        )?);
    }
    stmts.push(db.stmt(
        &format!(
            "UPDATE machines SET last_active_at = ?3, updated_at = ?3, active = coalesce(?4, active),
             metadata = coalesce(?5, metadata), metadata_version = metadata_version + (?5 IS NOT NULL),
             daemon_state = coalesce(?6, daemon_state), daemon_state_version = daemon_state_version + (?6 IS NOT NULL),
             seq = seq + (?5 IS NOT NULL OR ?6 IS NOT NULL)
             WHERE {OWNED} RETURNING {COLUMNS}"
        ),
        args![user_id, machine_id, now, change.active, change.metadata, change.daemon_state],
    )?);
    let results = db.batch(stmts).await?;
    let last = results.last().ok_or_else(|| ApiError::internal("empty batch"))?;
    let machine: MachineRow = first_row(last)?.ok_or_else(not_found)?;
    let mut outbox = Outbox::default();
    if changes_data {
        let bump = first_row::<SeqRow>(&results[0])?.ok_or_else(|| ApiError::internal("account seq missing"))?;
        let metadata = change.metadata.map(|_| (machine.metadata.as_str(), machine.metadata_version));
        let daemon_state = change.daemon_state.map(|_| (machine.daemon_state.as_deref(), machine.daemon_state_version));
        outbox = outbox.update(
            bump.seq,
            ev::update_machine(machine_id, metadata, daemon_state),
            events::machine(machine_id),
        );
    }
    if let Some(active) = change.active {
        outbox = outbox.ephemeral(ev::machine_activity(machine_id, active, machine.last_active_at), Recipients::User);
    }
    Ok((machine, outbox))
}

/// DELETE /v1/machines/:id: the machine and its access keys; `delete-machine` to *user*.
/// `Err(404)` when it is not the user's.
pub async fn delete(db: &Db, user_id: &str, machine_id: &str) -> ApiResult<Outbox> {
    let results = db
        .batch(vec![
            bump_account_seq_if(
                db,
                user_id,
                &format!("EXISTS (SELECT 1 FROM machines WHERE {OWNED})"),
                args![machine_id],
            )?,
            db.stmt("DELETE FROM access_keys WHERE account_id = ?1 AND machine_id = ?2", args![user_id, machine_id])?,
            db.stmt(&format!("DELETE FROM machines WHERE {OWNED}"), args![user_id, machine_id])?,
        ])
        .await?;
    let bump = first_row::<SeqRow>(&results[0])?.ok_or_else(not_found)?;
    Ok(Outbox::default().update(bump.seq, ev::delete_machine(machine_id), Recipients::User))
}

/// Socket `machine-alive {machineId, time}`: marks the machine active at `time` (stale times
/// ignored, future ones clamped, as for sessions) and emits `machine-activity` to *user*.
/// Empty outbox when ignored or not the user's machine. One UPDATE; the caller throttles.
pub async fn machine_alive(db: &Db, user_id: &str, machine_id: &str, time: i64) -> ApiResult<Outbox> {
    let Some(at) = heartbeat_time(time, now_ms()) else { return Ok(Outbox::default()) };
    #[derive(Deserialize)]
    struct Row {
        last_active_at: i64,
    }
    let row: Option<Row> = db
        .first(
            &format!("UPDATE machines SET active = 1, last_active_at = ?3 WHERE {OWNED} RETURNING last_active_at"),
            args![user_id, machine_id, at],
        )
        .await?;
    Ok(match row {
        Some(r) => {
            Outbox::default().ephemeral(ev::machine_activity(machine_id, true, r.last_active_at), Recipients::User)
        }
        None => Outbox::default(),
    })
}

/// The machine's last socket left at `at`: inactive and last seen then, unless a later
/// heartbeat or state report (a reconnect that raced this close) already marked it active
/// after `at`. Returns whether the row changed; the caller sends `machine-activity` itself.
pub async fn machine_offline(db: &Db, user_id: &str, machine_id: &str, at: i64) -> ApiResult<bool> {
    let changed = db
        .run(
            &format!("UPDATE machines SET active = 0, last_active_at = ?3 WHERE {OWNED} AND active = 1 AND last_active_at <= ?3"),
            args![user_id, machine_id, at],
        )
        .await?;
    Ok(changed > 0)
}

/// Every write to a machine row bumps its own `seq` too.
const METADATA: Column = Column {
    table: "machines",
    value: "metadata",
    version: "metadata_version",
    owned: OWNED,
    also_set: ", seq = seq + 1",
};

/// A daemon reporting its state is alive.
const DAEMON_STATE: Column = Column {
    table: "machines",
    value: "daemon_state",
    version: "daemon_state_version",
    owned: OWNED,
    also_set: ", seq = seq + 1, active = 1, last_active_at = ?5",
};

/// Socket `machine-update-metadata {machineId, metadata, expectedVersion}`: compare-and-set of
/// the metadata. Success emits `update-machine {machineId, metadata}` to *machine*.
pub async fn update_metadata(
    db: &Db,
    user_id: &str,
    machine_id: &str,
    metadata: &str,
    expected_version: i64,
) -> ApiResult<(Outcome, Outbox)> {
    let outcome =
        versioned::compare_and_set(db, user_id, machine_id, &METADATA, Some(metadata), expected_version).await?;
    let outbox = match &outcome {
        Outcome::Applied { seq, current } => Outbox::default().update(
            *seq,
            ev::update_machine(machine_id, Some((current.value.as_deref().unwrap_or(""), current.version)), None),
            events::machine(machine_id),
        ),
        _ => Outbox::default(),
    };
    Ok((outcome, outbox))
}

/// Socket `machine-update-state {machineId, daemonState, expectedVersion}`: as
/// [`update_metadata`] with `daemonState`; success also marks the machine active now.
pub async fn update_daemon_state(
    db: &Db,
    user_id: &str,
    machine_id: &str,
    daemon_state: &str,
    expected_version: i64,
) -> ApiResult<(Outcome, Outbox)> {
    let outcome =
        versioned::compare_and_set(db, user_id, machine_id, &DAEMON_STATE, Some(daemon_state), expected_version)
            .await?;
    let outbox = match &outcome {
        Outcome::Applied { seq, current } => Outbox::default().update(
            *seq,
            ev::update_machine(machine_id, None, Some((current.value.as_deref(), current.version))),
            events::machine(machine_id),
        ),
        _ => Outbox::default(),
    };
    Ok((outcome, outbox))
}
