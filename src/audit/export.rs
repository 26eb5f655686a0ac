//! Exports of the log as CSV or JSON Lines, row by row, and the
//! `audit.exported` entry every export leaves behind.

use super::AuditEntryView;
use super::filter::AuditFilter;
use crate::audit::AuditAction;
use crate::audit::store::{Actor, ClientInfo, NewEntry, append};
use crate::auth::access::Member;
use crate::db::Db;
use crate::error::AppError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    JsonLines,
}

impl ExportFormat {
    pub fn parse(text: Option<&str>) -> Result<Self, AppError> {
        match text.map(str::trim) {
            None | Some("" | "csv") => Ok(Self::Csv),
            Some("jsonl") => Ok(Self::JsonLines),
            Some(_) => Err(AppError::invalid("format", "Export as csv or jsonl.")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::JsonLines => "jsonl",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::JsonLines => "application/x-ndjson",
        }
    }

    /// What comes before the first row.
    pub fn header(self) -> Vec<u8> {
        match self {
            Self::Csv => csv_line(&CSV_COLUMNS.map(str::to_owned)),
            Self::JsonLines => Vec::new(),
        }
    }

    pub fn row(self, entry: &AuditEntryView) -> Vec<u8> {
        match self {
            Self::Csv => csv_line(&[
                timestamp(entry.at),
                entry.actor.clone(),
                entry.actor_email.clone().unwrap_or_default(),
                entry.action.clone(),
                entry.target.clone().unwrap_or_default(),
                entry.sentence(),
                entry.ip.clone().unwrap_or_default(),
                entry.user_agent.clone().unwrap_or_default(),
                compact_changes(entry)
                    .map(|changes| changes.to_string())
                    .unwrap_or_default(),
                entry.id.clone(),
            ]),
            Self::JsonLines => {
                let mut line = json!({
                    "id": entry.id,
                    "at": timestamp(entry.at),
                    "actor": entry.actor,
                    "actor_email": entry.actor_email,
                    "action": entry.action,
                    "target": entry.target,
                    "event": entry.sentence(),
                    "ip": entry.ip,
                    "user_agent": entry.user_agent,
                    "changes": compact_changes(entry),
                })
                .to_string()
                .into_bytes();
                line.push(b'\n');
                line
            }
        }
    }
}

const CSV_COLUMNS: [&str; 10] = [
    "time",
    "actor",
    "actor_email",
    "action",
    "target",
    "event",
    "ip",
    "user_agent",
    "changes",
    "id",
];

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn compact_changes(entry: &AuditEntryView) -> Option<Value> {
    entry
        .changes
        .as_deref()
        .map(|text| serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

/// One CSV record (the csv crate quotes commas, quotes and newlines). Cells a
/// spreadsheet would run as a formula get a leading apostrophe (OWASP's advice
/// against CSV injection).
fn csv_line(cells: &[String]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let safe = cells.iter().map(|cell| neutralise_formula(cell));
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(safe);
    writer.into_inner().unwrap_or_default()
}

fn neutralise_formula(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// Writes the `audit.exported` entry before any row leaves: the export is on
/// record even if the download is interrupted.
pub async fn record_export(
    db: &Db,
    member: &Member,
    filter: &AuditFilter,
    format: ExportFormat,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    append(
        &mut tx,
        now,
        NewEntry {
            workspace_id: Some(&member.workspace_id),
            actor: Actor::member(member),
            action: AuditAction::AuditExported,
            target: None,
            client,
            changes: Some(json!({ "format": format.as_str(), "filter": filter })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(actor: &str, target: &str) -> AuditEntryView {
        AuditEntryView {
            id: "e1".into(),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            actor: actor.into(),
            actor_email: Some("ana@example.com".into()),
            action: "key.created".into(),
            target: Some(target.into()),
            ip: None,
            user_agent: None,
            changes: Some("{\n  \"after\": { \"name\": \"x\" }\n}".into()),
        }
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let row =
            String::from_utf8(ExportFormat::Csv.row(&entry("Diaz, Ana", "say \"hi\"\nthere")))
                .unwrap();
        assert!(row.contains("\"Diaz, Ana\""), "{row}");
        assert!(row.contains("\"say \"\"hi\"\"\nthere\""), "{row}");
        assert!(row.contains(r#""{""after"":{""name"":""x""}}""#), "{row}");
        assert!(row.ends_with("\r\n"));
    }

    #[test]
    fn csv_neutralises_formulas() {
        for evil in ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)"] {
            let row = String::from_utf8(ExportFormat::Csv.row(&entry(evil, "t"))).unwrap();
            let first_actor_char = row.split(',').nth(1).unwrap().trim_start_matches('"');
            assert!(first_actor_char.starts_with('\''), "{row}");
        }
    }

    #[test]
    fn json_lines_are_one_object_per_line() {
        let line = String::from_utf8(ExportFormat::JsonLines.row(&entry("Ana", "t"))).unwrap();
        assert_eq!(line.matches('\n').count(), 1);
        let value: Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(value["changes"]["after"]["name"], "x");
    }
}
