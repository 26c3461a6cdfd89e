//! A small operator tool over a SQLite inbox file: counts, dead letters, one record, replay,
//! purge — the `Inbox` operator calls behind a command line.
//!
//! ```text
//! cargo run --example inbox_admin -- <file> counts
//! cargo run --example inbox_admin -- <file> list [pending|running|done|dead] [limit]
//! cargo run --example inbox_admin -- <file> inspect <key>
//! cargo run --example inbox_admin -- <file> replay <key>
//! cargo run --example inbox_admin -- <file> replay-since <RFC 3339 time | 30m | 2h | 1d>
//! cargo run --example inbox_admin -- <file> purge
//! ```
//!
//! `inspect` shows the metadata and the kept headers, and the body's size — not the body: pass
//! `--body` to print it (it may hold personal data).
//!
//! `counts`, `list` and `inspect` open the file read-only: they answer beside busy workers
//! and never change it. `replay`, `replay-since` and `purge` open it for writing.
//!
//! Try it on the file `cargo run --example inbox` leaves behind.

use std::process::ExitCode;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use webhook_receiver::inbox::{Inbox, ListQuery, RecordMeta, SqliteInbox, Status};

/// The inbox's table (the engine's default).
const TABLE: &str = "webhook_inbox";

const USAGE: &str = "usage: inbox_admin <file> <command>
commands:
  counts                          records per status, oldest pending age
  list [status] [limit]           records in a status (default: dead, 20)
  inspect <key> [--body]          one record: metadata, kept headers (and the body)
  replay <key>                    a dead record runs again (attempts reset)
  replay-since <time|30m|2h|1d>   every record dead since then runs again
  purge                           remove done records past their retention";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The error and its causes (`file is not a database`, …).
            let mut message = error.to_string();
            let mut cause = error.source();
            while let Some(inner) = cause {
                // Some errors already quote their cause in their own message.
                let text = inner.to_string();
                if !message.contains(&text) {
                    message.push_str(": ");
                    message.push_str(&text);
                }
                cause = inner.source();
            }
            eprintln!("error: {message}");
            if error.to_string().starts_with("usage") {
                eprintln!();
            }
            ExitCode::from(2)
        }
    }
}

async fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [file, command, rest @ ..] = args else {
        return Err(USAGE.into());
    };
    if !std::path::Path::new(file).exists() {
        return Err(format!("no inbox file at {file}").into());
    }
    // Opening migrates: never turn another application's database into an inbox.
    if !has_inbox_table(file).await? {
        return Err(format!("{file} holds no inbox (no table `{TABLE}`)").into());
    }
    // Only what changes records opens the inbox for writing (and migrates): `counts`, `list`
    // and `inspect` read, so they work beside busy workers and never take the writer's lock.
    let writes = matches!(command.as_str(), "replay" | "replay-since" | "purge");
    let engine = if writes {
        SqliteInbox::builder(file).table(TABLE)?.open().await?
    } else {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(file)
            .read_only(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        SqliteInbox::from_pools(pool.clone(), pool, TABLE)?
    };
    let inbox = Inbox::new(engine);
    match (command.as_str(), rest) {
        ("counts", []) => {
            let counts = inbox.counts().await?;
            println!("pending  {}", counts.pending);
            println!("running  {}", counts.running);
            println!("done     {}", counts.done);
            println!("dead     {}", counts.dead);
            match inbox.oldest_pending_age().await? {
                Some(age) => println!("oldest pending: {} s ago", age.as_secs()),
                None => println!("oldest pending: none"),
            }
        }
        ("list", rest) if rest.len() <= 2 => {
            let status: Status = match rest.first() {
                Some(text) => text.parse()?,
                None => Status::Dead,
            };
            let limit: u32 = match rest.get(1) {
                Some(text) => text
                    .parse()
                    .map_err(|_| "the limit must be a whole number up to 4294967295")?,
                None => 20,
            };
            let records = inbox.list(&ListQuery::new(status).limit(limit)).await?;
            if records.is_empty() {
                println!("no {status} records");
            }
            for meta in &records {
                print_line(meta);
            }
        }
        ("inspect", [key, flags @ ..]) if flags.iter().all(|f| f == "--body") => {
            let record = inbox
                .inspect(key)
                .await?
                .ok_or_else(|| format!("no record `{key}`"))?;
            let meta = &record.meta;
            println!("key          {}", shown(&meta.key));
            println!("status       {}", meta.status);
            println!("attempts     {}", meta.attempts);
            println!("endpoint     {} ({})", meta.endpoint, meta.provider);
            println!(
                "event id     {}",
                shown(meta.event_id.as_deref().unwrap_or("-"))
            );
            println!(
                "secret label {}",
                shown(meta.key_label.as_deref().unwrap_or("-"))
            );
            println!(
                "ordering key {}",
                shown(meta.ordering_key.as_deref().unwrap_or("-"))
            );
            println!("received     {}", time_text(meta.received_at));
            if let Some(signed) = meta.signed_at {
                println!("signed at    {signed} (unix)");
            }
            if let Some(at) = meta.run_at {
                println!("run at       {}", time_text(at));
            }
            if let Some(at) = meta.expires_at {
                println!("expires      {}", time_text(at));
            }
            println!("updated      {}", time_text(meta.updated_at));
            println!(
                "last error   {}",
                shown(meta.last_error.as_deref().unwrap_or("-"))
            );
            println!("headers:");
            for (name, value) in &record.headers {
                println!(
                    "  {name}: {}",
                    shown(&String::from_utf8_lossy(value.as_bytes()))
                );
            }
            println!("body         {} bytes", record.body.len());
            if !flags.is_empty() {
                // Lines kept; any other control character (a terminal escape) shown escaped.
                let body = String::from_utf8_lossy(&record.body);
                for line in body.split('\n') {
                    println!("{}", shown(line));
                }
            }
        }
        ("replay", [key]) => {
            if inbox.replay(key).await? {
                println!("replayed {key}: pending, attempts reset");
            } else {
                return Err(format!("`{key}` is not a dead record").into());
            }
        }
        ("replay-since", [since]) => {
            let since = parse_since(since)?;
            let n = inbox.replay_dead_since(since).await?;
            println!("replayed {n} records dead since {}", time_text(since));
        }
        ("purge", []) => {
            let n = inbox.purge().await?;
            println!("purged {n} done records past their retention");
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

fn print_line(meta: &RecordMeta) {
    println!(
        "{}  {:<7} attempts {:<3} received {}  {}",
        shown(&meta.key),
        meta.status,
        meta.attempts,
        time_text(meta.received_at),
        shown(meta.last_error.as_deref().unwrap_or(""))
    );
}

/// `text` with its control characters and bidirectional overrides escaped (`\u{1b}`,
/// `\u{202e}`): what senders wrote (unsigned headers, bodies) and errors quoting it must not
/// drive the operator's terminal or reorder what it shows.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn time_text(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// Whether the SQLite file at `path` has the inbox's table, read without changing the file.
async fn has_inbox_table(path: &str) -> Result<bool, Box<dyn std::error::Error>> {
    use sqlx::ConnectOptions as _;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await?;
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
            .bind(TABLE)
            .fetch_optional(&mut conn)
            .await?;
    Ok(found.is_some())
}

/// An RFC 3339 time, or a duration ago: `90s`, `30m`, `2h`, `1d`.
fn parse_since(text: &str) -> Result<OffsetDateTime, Box<dyn std::error::Error>> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let unit = text.chars().next_back().unwrap_or(' ');
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err("expected an RFC 3339 time or a duration like 30m, 2h, 1d".into()),
    };
    let number: u64 = text[..text.len() - 1]
        .parse()
        .map_err(|_| "expected an RFC 3339 time or a duration like 30m, 2h, 1d")?;
    let ago = Duration::from_secs(number.saturating_mul(seconds));
    let too_far = "that is further back than a date can be";
    let ago = time::Duration::try_from(ago).map_err(|_| too_far)?;
    Ok(OffsetDateTime::now_utc().checked_sub(ago).ok_or(too_far)?)
}
