//! What the SQL-backed stores and inbox engines share: table names, statements, tokens, times,
//! row ids and how PostgreSQL failures are classified.

use std::sync::Arc;

use sqlx::AssertSqlSafe;

use crate::dedup::LeaseToken;
use crate::error::ConfigError;

/// The longest table name, so index names stay readable.
pub(crate) const MAX_TABLE_LEN: usize = 48;

/// A statement for sqlx. Audited by its callers: the only dynamic part is a table name checked
/// by [`validate_table`]; every value is a bind parameter.
pub(crate) fn statement(text: &Arc<str>) -> AssertSqlSafe<Arc<str>> {
    AssertSqlSafe(Arc::clone(text))
}

/// Refuses table names that are not plain SQL identifiers (they are quoted into statements).
pub(crate) fn validate_table(name: &str) -> Result<(), ConfigError> {
    let mut bytes = name.bytes();
    let valid_start = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let valid_rest = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid_start || !valid_rest {
        return Err(ConfigError::invalid(
            "table",
            "must be a plain SQL identifier: lower-case ASCII letters, digits and `_`, \
             not starting with a digit",
        ));
    }
    if name.len() > MAX_TABLE_LEN {
        return Err(ConfigError::invalid(
            "table",
            format!("must be at most {MAX_TABLE_LEN} bytes long"),
        ));
    }
    Ok(())
}

/// A lease token as stored: 16 big-endian bytes.
pub(crate) fn token_bytes(token: LeaseToken) -> Vec<u8> {
    token.get().to_be_bytes().to_vec()
}

/// The longest key stored as itself in a PostgreSQL row id; longer ones are stored as a digest.
#[cfg(feature = "postgres")]
pub(crate) const MAX_ROW_ID: usize = 512;

#[cfg(feature = "postgres")]
pub(crate) const DIGEST_PREFIX: &str = "sha256:";

/// The row id of `key`, the column a PostgreSQL unique index is on: the key itself, or
/// `sha256:<hex>` when it is longer than [`MAX_ROW_ID`] bytes, contains a NUL, or itself starts
/// with `sha256:` (so that no key is mistaken for another's digest). Every key can be stored,
/// and no index entry outgrows a B-tree page.
#[cfg(feature = "postgres")]
pub(crate) fn row_id(key: &str) -> std::borrow::Cow<'_, str> {
    use sha2::Digest as _;
    use std::borrow::Cow;
    if key.len() <= MAX_ROW_ID && !key.contains('\0') && !key.starts_with(DIGEST_PREFIX) {
        return Cow::Borrowed(key);
    }
    let digest = sha2::Sha256::digest(key.as_bytes());
    Cow::Owned(format!("{DIGEST_PREFIX}{}", hex::encode(digest)))
}

/// Whether a PostgreSQL failure means "not now, try again": pool and connection failures, and
/// the server's connection exceptions (class 08), transaction rollbacks (40: a deadlock or a
/// serialization failure, which the same statement survives when run again), insufficient
/// resources (53, e.g. too many connections) and operator intervention (57: shutdown,
/// cancelled statement).
#[cfg(feature = "postgres")]
pub(crate) fn pg_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| ["08", "40", "53", "57"].iter().any(|c| code.starts_with(c))),
        _ => false,
    }
}
