//! Ledger throughput: times `attempting` + `sent` transitions for 10,000 rows, one commit per
//! transition and batched, in a fresh ledger (in a temp folder, or under the folder given as the
//! first argument, to measure a particular disk).
//!
//! `cargo run --release --example ledger_throughput [DIR]`

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use sessioncast::ledger::{Key, Ledger, Outcome, Planned};

const ROWS: u32 = 10_000;

fn main() -> Result<(), Box<dyn Error>> {
    let base = std::env::args_os().nth(1).map(PathBuf::from);
    let temp = tempfile::tempdir_in(base.unwrap_or_else(std::env::temp_dir))?;
    println!(
        "{ROWS} rows, 2 transitions each, synchronous=FULL, in {}",
        temp.path().display()
    );
    for batch in [1, 16, 256] {
        let path = temp.path().join(format!("batch-{batch}.db"));
        let elapsed = run(&path, batch)?;
        let transitions = f64::from(2 * ROWS) / elapsed.as_secs_f64();
        println!(
            "batch {batch:>3}: {:>8.0} transitions/s = {:>8.0} sends/s ({:.2?} total)",
            transitions,
            transitions / 2.0,
            elapsed
        );
    }
    Ok(())
}

/// Plans `ROWS` rows, then times marking and finishing them `batch` at a time.
fn run(path: &Path, batch: usize) -> Result<Duration, Box<dyn Error>> {
    let mut ledger = Ledger::open(path)?;
    let deadline = SystemTime::now() + Duration::from_secs(86_400);
    let keys: Vec<Key> = (0..ROWS)
        .map(|i| Key::new(format!("+1555{i:07}"), 0))
        .collect();
    let planned: Vec<Planned> = keys
        .iter()
        .map(|key| Planned {
            key: key.clone(),
            payload: format!(
                r#"{{"url":"https://api.example.com/notification","body":{{"to":"{}"}}}}"#,
                key.to
            ),
            deadline,
        })
        .collect();
    ledger.sync_planned(&planned)?;
    let start = Instant::now();
    for chunk in keys.chunks(batch) {
        if let [key] = chunk {
            ledger.mark_attempting(key)?;
            ledger.finish(key, &sent())?;
        } else {
            ledger.mark_attempting_many(chunk)?;
            let outcomes: Vec<_> = chunk.iter().map(|k| (k.clone(), sent())).collect();
            ledger.finish_many(&outcomes)?;
        }
    }
    Ok(start.elapsed())
}

fn sent() -> Outcome {
    Outcome::Sent {
        provider_id: Some("wamid.HBgLMTU1NTAwMDExMTEVAgARGBI".to_string()),
    }
}
