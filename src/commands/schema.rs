//! `sessioncast schema`: the JSON Schema of campaign files, for editors.

use super::CommandResult;
use crate::campaign::CampaignFile;
use crate::exit::Exit;

pub fn run() -> CommandResult {
    let schema = schemars::schema_for!(CampaignFile);
    let text = serde_json::to_string_pretty(&schema)
        .map_err(|e| super::Failure::runtime(e.to_string()))?;
    println!("{text}");
    Ok(Exit::Ok)
}
