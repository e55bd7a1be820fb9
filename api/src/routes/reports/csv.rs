//! A report as CSV: the `definition` as leading `#` comment lines, one
//! header row with stable column names, then the rows.

use actix_web::{http::header, HttpResponse};
use serde::Serialize;

use super::common::{Context, Definition};

/// A report's rows as a table.
pub struct Table {
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

/// A cell of an optional number: empty when absent.
pub fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// A text cell a spreadsheet must not read as a formula (OWASP's advice:
/// prefix a quote to a cell that starts with `=`, `+`, `-`, `@`, tab or CR).
pub fn text(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    }
}

/// What a report answers: JSON, or CSV with a file name that says the
/// report and the period.
pub trait Report: Serialize {
    const NAME: &'static str;
    fn definition(&self) -> &Definition;
    fn table(&self) -> Table;
}

pub fn respond<R: Report>(ctx: &Context, report: &R) -> HttpResponse {
    if !ctx.csv {
        return HttpResponse::Ok().json(report);
    }
    let from = ctx.local_date(ctx.period.from);
    let to = ctx.local_date(ctx.period.to);
    let file = format!("pipewise-{}-{from}-to-{to}.csv", R::NAME);
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")))
        .body(render(R::NAME, report.definition(), &report.table()))
}

fn render(name: &str, d: &Definition, table: &Table) -> String {
    let mut out = String::new();
    let mut comment = |line: String| {
        out.push_str("# ");
        out.push_str(&line.replace(['\n', '\r'], " "));
        out.push('\n');
    };
    comment(format!("report: {name}"));
    comment(format!(
        "period: {} to {} ({})",
        d.period.from.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        d.period.to.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        d.period.time_zone
    ));
    comment(format!(
        "as_of: {}",
        d.as_of.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    ));
    if let Some(basis) = d.basis {
        comment(format!(
            "basis: {}",
            serde_json::to_value(basis).unwrap_or_default().as_str().unwrap_or("")
        ));
    }
    let filters = [
        d.filters.pipeline_id.map(|p| format!("pipeline_id={p}")),
        d.filters.owner_id.map(|o| format!("owner_id={o}")),
        d.filters.source.as_ref().map(|s| format!("source={s}")),
        d.filters.own_records_only.then(|| "own records only".to_owned()),
    ];
    let filters: Vec<String> = filters.into_iter().flatten().collect();
    comment(format!(
        "filters: {}",
        if filters.is_empty() {
            "none".to_owned()
        } else {
            filters.join(", ")
        }
    ));
    let rates: Vec<String> = d
        .exchange_rates
        .iter()
        .map(|r| format!("{}={}", r.currency, r.rate))
        .collect();
    comment(format!(
        "currency: {}; exchange rates: {}",
        d.currency,
        if rates.is_empty() {
            "none".to_owned()
        } else {
            rates.join(", ")
        }
    ));
    for r in &d.ratios {
        comment(format!(
            "ratio {} of {}: {} / {}",
            r.name, r.row, r.numerator, r.denominator
        ));
    }
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let written = writer
        .write_record(table.columns)
        .and_then(|()| table.rows.iter().try_for_each(|row| writer.write_record(row)));
    let body = written
        .map_err(std::io::Error::from)
        .and_then(|()| writer.into_inner().map_err(|e| e.into_error()))
        .expect("writing to memory does not fail");
    out.push_str(&String::from_utf8(body).expect("the cells are UTF-8"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_look_like_formulas_are_quoted() {
        assert_eq!(text("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(text("@cmd"), "'@cmd");
        assert_eq!(text("price"), "price");
    }
}
