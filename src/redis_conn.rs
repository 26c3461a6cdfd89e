//! What `RedisStore` and `RedisInbox` share: how they connect, and which failures mean the
//! server cannot be reached.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// Two quick reconnection attempts per call (50 to 500 ms apart) once the connection is lost,
/// so that calls to a server that is down fail fast instead of holding deliveries.
pub(crate) fn reconnecting() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
}

/// A [`ConnectionManager`] for `url` with `config`.
pub(crate) async fn connect(
    url: &str,
    config: ConnectionManagerConfig,
) -> Result<ConnectionManager, RedisError> {
    let client = redis::Client::open(url)?;
    ConnectionManager::new_with_config(client, config).await
}

/// Whether `error` means the server cannot serve now (connection failures, time-outs, and the
/// server states that pass: loading, `TRYAGAIN`, cluster or master down, read-only replica,
/// `OOM` — memory full under `maxmemory-policy noeviction`, until something is freed), rather
/// than a refused or failed command. So is a pipeline, or a transaction (`MULTI`/`EXEC`) the
/// server discarded, whose failed commands were all refused for such states.
pub(crate) fn unavailable(error: &RedisError) -> bool {
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
    {
        return true;
    }
    // A server's error, or those of the commands of a pipeline or an aborted transaction.
    match error.clone().into_server_errors() {
        Some(errors) => {
            !errors.is_empty()
                && errors
                    .iter()
                    .all(|(_, e)| transient(e.kind(), Some(e.code())))
        }
        None => match error.kind() {
            ErrorKind::Server(kind) => transient(Some(kind), error.code()),
            _ => transient(None, error.code()),
        },
    }
}

/// A server error state that passes.
fn transient(kind: Option<ServerErrorKind>, code: Option<&str>) -> bool {
    matches!(
        kind,
        Some(
            ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
        )
    ) || code == Some("OOM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_server_is_unavailable_and_a_refused_command_is_not() {
        let full = redis::make_extension_error(
            "OOM".to_owned(),
            Some("command not allowed when used memory > 'maxmemory'.".to_owned()),
        );
        assert!(unavailable(&full));
        let wrong_type = redis::make_extension_error(
            "WRONGTYPE".to_owned(),
            Some("Operation against a key holding the wrong kind of value".to_owned()),
        );
        assert!(!unavailable(&wrong_type));
        let refused = RedisError::from((ErrorKind::Server(ServerErrorKind::ResponseError), "no"));
        assert!(!unavailable(&refused));
    }
}
