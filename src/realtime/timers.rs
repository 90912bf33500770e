//! Named timers on an object's one alarm, kept in its SQLite so they survive hibernation, and
//! the object's wake-up count (how often it was constructed: what idle sockets cost).
//!
//! The alarm is always set for the earliest timer; an object runs each due timer when it fires.

use worker::{ScheduledTime, SqlStorageValue, State};

use super::sql_scalar;
use crate::config::now_ms;

pub struct Timers<'a>(pub &'a State);

impl Timers<'_> {
    /// Creates the tables and counts this construction as a wake-up.
    pub fn init(&self) {
        let sql = self.0.storage().sql();
        for ddl in [
            "CREATE TABLE IF NOT EXISTS timers (name TEXT PRIMARY KEY, at INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS wakes (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)",
            "INSERT INTO wakes (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1",
        ] {
            if let Err(e) = sql.exec(ddl, None::<Vec<SqlStorageValue>>) {
                worker::console_error!("timers schema: {e}");
            }
        }
    }

    pub fn wakeups(&self) -> i64 {
        sql_scalar(self.0, "SELECT n AS s FROM wakes WHERE id = 1", vec![]).unwrap_or(0)
    }

    pub fn get(&self, name: &str) -> Option<i64> {
        sql_scalar(self.0, "SELECT at AS s FROM timers WHERE name = ?", vec![SqlStorageValue::String(name.into())])
    }

    pub fn set(&self, name: &str, at: Option<i64>) {
        let sql = self.0.storage().sql();
        let name = SqlStorageValue::String(name.into());
        let done = match at {
            Some(at) => sql.exec("INSERT OR REPLACE INTO timers (name, at) VALUES (?, ?)", vec![name, at.into()]),
            None => sql.exec("DELETE FROM timers WHERE name = ?", vec![name]),
        };
        if let Err(e) = done {
            worker::console_error!("timer: {e}");
        }
    }

    /// Starts a timer unless it is running, and makes sure the alarm fires by then.
    pub async fn start(&self, name: &str, at: i64) -> worker::Result<()> {
        let now = now_ms();
        let wake = match self.get(name) {
            Some(t) if t >= now => return Ok(()),
            // Overdue: its alarm was lost; run it now.
            Some(_) => now,
            None => {
                self.set(name, Some(at));
                at
            }
        };
        self.wake_by(wake).await
    }

    /// Makes sure the alarm fires by `at` (a deadline that is not a named timer).
    pub async fn wake_by(&self, at: i64) -> worker::Result<()> {
        let storage = self.0.storage();
        match storage.get_alarm().await? {
            Some(t) if t <= at => Ok(()),
            _ => storage.set_alarm(at_time(at)).await,
        }
    }

    /// After the due timers ran: the alarm for the earliest of `names` and `extra`.
    pub async fn rearm(&self, names: &[&str], extra: Option<i64>) -> worker::Result<()> {
        let next = names.iter().filter_map(|t| self.get(t)).chain(extra).min();
        match next {
            Some(at) => self.0.storage().set_alarm(at_time(at)).await,
            None => Ok(()),
        }
    }
}

/// An absolute alarm time (epoch ms).
fn at_time(at: i64) -> ScheduledTime {
    ScheduledTime::new(worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64(at as f64)))
}
