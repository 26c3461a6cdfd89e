//! A dedup store written over your own storage, checked with the crate's contract suite.
//!
//! Here "your own storage" is a plain key-value table behind a lock, with rows that carry a
//! deadline; swap it for whatever your service already runs. The store gets every operation
//! atomic by doing each under one lock; a database would use a transaction or a conditional
//! write instead.
//!
//! Run: `cargo run --example custom_store --features testing`

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use webhook_receiver::dedup::{Claim, DedupStore, LeaseToken, StoreError};
use webhook_receiver::testing::{ContractConfig, store_contract};
use webhook_receiver::{Clock, ManualClock};

/// One row of the user's table.
#[derive(Debug, Clone, Copy)]
struct Row {
    token: u128,
    completed: bool,
    /// Unix milliseconds.
    expires_at: i64,
}

/// The user's storage: a table of rows by key.
#[derive(Debug, Default)]
struct Table {
    rows: HashMap<String, Row>,
}

/// The dedup store over that table.
#[derive(Debug)]
struct TableStore<C> {
    table: Mutex<Table>,
    clock: C,
}

impl<C: Clock> TableStore<C> {
    fn table(&self) -> Result<std::sync::MutexGuard<'_, Table>, StoreError> {
        self.table
            .lock()
            .map_err(|_| StoreError::backend("table lock poisoned"))
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl<C: Clock> DedupStore for TableStore<C> {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let now = self.clock.unix_millis();
        let mut table = self.table()?;
        if let Some(row) = table.rows.get(key).filter(|r| r.expires_at > now) {
            return Ok(if row.completed {
                Claim::Completed
            } else {
                Claim::InFlight {
                    retry_after: Some(Duration::from_millis(row.expires_at.abs_diff(now))),
                }
            });
        }
        let token = LeaseToken::random();
        table.rows.insert(
            key.to_owned(),
            Row {
                token: token.get(),
                completed: false,
                expires_at: now.saturating_add(millis(lease)),
            },
        );
        Ok(Claim::Acquired(token))
    }

    async fn complete(
        &self,
        key: &str,
        token: LeaseToken,
        retain: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.clock.unix_millis();
        let mut table = self.table()?;
        match table.rows.get_mut(key) {
            Some(row) if row.token == token.get() && !row.completed => {
                row.completed = true;
                row.expires_at = now.saturating_add(millis(retain));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, StoreError> {
        let mut table = self.table()?;
        match table.rows.get(key) {
            Some(row) if row.token == token.get() && !row.completed => {
                table.rows.remove(key);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let clock = ManualClock::at_unix(1_767_225_600);
    let store = TableStore {
        table: Mutex::new(Table::default()),
        clock: clock.clone(),
    };
    // Panics with the violated rule if the store breaks the contract.
    store_contract(&store, ContractConfig::manual(&clock)).await;
    println!(
        "TableStore passes the dedup store contract ({} rows left)",
        store.table().map(|t| t.rows.len()).unwrap_or(0)
    );
}
