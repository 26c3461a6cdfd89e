#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "actix-web")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
pub mod actix;
#[cfg(any(feature = "axum", feature = "actix-web"))]
mod adapter;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod clock;
mod config;
pub mod dedup;
#[cfg(feature = "edge")]
#[cfg_attr(docsrs, doc(cfg(feature = "edge")))]
pub mod edge;
mod encoding;
mod error;
#[cfg(feature = "inbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "inbox")))]
pub mod inbox;
pub mod keysource;
pub mod providers;
mod receiver;
#[cfg(feature = "redis")]
mod redis_conn;
mod secret;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
mod telemetry;
pub mod testing;
mod verify;

#[cfg(any(feature = "axum", feature = "actix-web"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix-web"))))]
pub use adapter::{Rejection, RejectionKind};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{EndpointConfig, KeyConfig, PublicUrlConfig};
pub use encoding::{Algorithm, Encoding};
pub use error::{ConfigError, VerifyError};
pub use providers::{EventIdSource, Scheme};
pub use providers::{Request, Tolerance};
pub use receiver::{
    DEFAULT_LEASE, Delivery, MAX_LEASE, MAX_NAMESPACE, MAX_RETAIN, MAX_STORED_ID, Outcome,
    PublicUrl, RETENTION_MARGIN, ReceiveError, Receiver, ReceiverBuilder, STORE_RETRY_AFTER,
    UNTIMESTAMPED_RETENTION,
};
pub use secret::{Key, KeyFormat, PublicKey, Secret, SecretFormat};
pub use verify::{
    ContentDigest, DEFAULT_BODY_LIMIT, DEFAULT_TOLERANCE, DedupKey, MAX_BODY_LIMIT, MAX_TOLERANCE,
    MacKey, Verified, Verifier, VerifierBuilder,
};
