//! The text of the output: record lines, tree heads with their summary, and escaping.

use std::fmt::{self, Write as _};

use serde_json::{Map, Value};
use token_runtime_id_rules::{CharClass, forbidden_class};

/// Labels longer than this are printed whole but do not widen the column for the others.
const MAX_LABEL_WIDTH: usize = 24;

/// `<level> <msg> key=value ...` of one record, every part escaped; `ts`, the ID and the
/// service are printed apart.
pub(crate) fn record_body(fields: &Map<String, Value>, skip: &[&str]) -> String {
    let mut line = String::new();
    for name in ["level", "msg"] {
        if let Some(value) = fields.get(name) {
            if !line.is_empty() {
                line.push(' ');
            }
            let _ = write!(line, "{}", Sanitized(&plain(value)));
        }
    }
    for (name, value) in fields {
        if matches!(name.as_str(), "ts" | "level" | "msg") || skip.contains(&name.as_str()) {
            continue;
        }
        let value = match value {
            Value::String(s) if !s.is_empty() && !s.contains([' ', '=', '"']) => s.clone(),
            other => other.to_string(),
        };
        if !line.is_empty() {
            line.push(' ');
        }
        let _ = write!(line, "{}={}", Sanitized(name), Sanitized(&value));
    }
    line
}

/// A JSON value as text: strings without their quotes.
pub(crate) fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The width of the label column: the widest label shown, up to [`MAX_LABEL_WIDTH`].
pub(crate) fn label_width<'a>(labels: impl IntoIterator<Item = &'a str>) -> usize {
    labels
        .into_iter()
        .map(|label| Sanitized(label).to_string().chars().count())
        .filter(|&width| width <= MAX_LABEL_WIDTH)
        .max()
        .unwrap_or(0)
}

/// `<ts> <label> | <body>`, the label padded to `width`.
pub(crate) fn record_line(
    out: &mut String,
    indent: usize,
    ts: Option<&str>,
    label: &str,
    width: usize,
    body: &str,
) {
    push_indent(out, indent);
    if let Some(ts) = ts {
        let _ = write!(out, "{ts} ");
    }
    let label = Sanitized(label).to_string();
    let _ = write!(out, "{label:<width$} |");
    if !body.is_empty() {
        let _ = write!(out, " {body}");
    }
    out.push('\n');
}

/// What a tree's head line says about the lines under it.
#[derive(Debug, Default)]
pub(crate) struct TreeSummary<'a> {
    pub(crate) lines: usize,
    /// In the order of their first line.
    pub(crate) services: Vec<&'a str>,
    /// The `ts` text of the earliest line that has one, and the span to the latest.
    pub(crate) span: Option<(&'a str, u128)>,
}

/// `[<id>]  <n> lines; services: a, b; <first ts> .. +<span>`.
pub(crate) fn head_line(
    out: &mut String,
    indent: usize,
    id: &str,
    summary: Option<&TreeSummary<'_>>,
) {
    push_indent(out, indent);
    let _ = write!(out, "[{}]", Sanitized(id));
    if let Some(summary) = summary {
        let lines = summary.lines;
        let _ = write!(out, "  {lines} line{}", plural(lines));
        let services = &summary.services;
        let _ = write!(out, "; service{}: ", plural(services.len()));
        for (i, service) in services.iter().enumerate() {
            let comma = if i == 0 { "" } else { ", " };
            let _ = write!(out, "{comma}{}", Sanitized(service));
        }
        match summary.span {
            Some((first, span)) => {
                let _ = write!(out, "; {first} .. +{}", Duration(span));
            }
            None => out.push_str("; no time"),
        }
    }
    out.push('\n');
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

/// A span of nanoseconds to one decimal, in the largest unit in which it rounds to at
/// least 1.0: `850 ns`, `12.5 µs`, `35.2 ms`, `1.2 s`, `2.5 min`, `3.0 h`.
struct Duration(u128);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u128, &str); 5] = [
            (1_000, "µs"),
            (1_000_000, "ms"),
            (1_000_000_000, "s"),
            (60_000_000_000, "min"),
            (3_600_000_000_000, "h"),
        ];
        let nanos = self.0;
        if nanos < 1_000 {
            return write!(f, "{nanos} ns");
        }
        // Rounded in integers, so 999.96 µs reads 1.0 ms and not 1000.0 µs.
        let mut shown = (0, "");
        for (i, &(unit, name)) in UNITS.iter().enumerate() {
            let tenths = (nanos * 10 + unit / 2) / unit;
            shown = (tenths, name);
            let next_fits = UNITS.get(i + 1).is_some_and(|&(next, _)| {
                let next_tenths = (nanos * 10 + next / 2) / next;
                next_tenths >= 10
            });
            if !next_fits {
                break;
            }
        }
        write!(f, "{}.{} {}", shown.0 / 10, shown.0 % 10, shown.1)
    }
}

/// Text with every character that could break a line or drive a terminal escaped
/// (`\u{1b}`); spaces, quotes and backslashes stay as they are.
pub(crate) struct Sanitized<'a>(pub(crate) &'a str);

impl fmt::Display for Sanitized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Printable ASCII, most of a log, is never escaped: written at once.
        if self.0.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return f.write_str(self.0);
        }
        for c in self.0.chars() {
            match forbidden_class(c) {
                Some(CharClass::Whitespace) if c == ' ' => f.write_char(c)?,
                Some(CharClass::Quote | CharClass::Backslash) | None => f.write_char(c)?,
                Some(_) => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_the_unit_that_keeps_them_readable() {
        let cases: [(u128, &str); 12] = [
            (0, "0 ns"),
            (999, "999 ns"),
            (1_000, "1.0 µs"),
            (12_450, "12.5 µs"),
            (999_960, "1.0 ms"),
            (35_200_000, "35.2 ms"),
            (35_249_999, "35.2 ms"),
            (1_204_000_000, "1.2 s"),
            (59_999_000_000, "1.0 min"),
            (60_000_000_000, "1.0 min"),
            (150_000_000_000, "2.5 min"),
            (10_800_000_000_000, "3.0 h"),
        ];
        for (nanos, text) in cases {
            assert_eq!(Duration(nanos).to_string(), text, "{nanos} ns");
        }
    }

    #[test]
    fn the_head_line_counts_lines_names_services_and_gives_the_span() {
        let mut out = String::new();
        let summary = TreeSummary {
            lines: 12,
            services: vec!["a", "b"],
            span: Some(("2024-01-15T10:30:45.123Z", 35_200_000)),
        };
        head_line(&mut out, 0, "a1b2c3d4", Some(&summary));
        assert_eq!(
            out,
            "[a1b2c3d4]  12 lines; services: a, b; 2024-01-15T10:30:45.123Z .. +35.2 ms\n"
        );
        out.clear();
        let one = TreeSummary {
            lines: 1,
            services: vec!["x\u{1b}"],
            span: None,
        };
        head_line(&mut out, 1, "r", Some(&one));
        assert_eq!(out, "  [r]  1 line; service: x\\u{1b}; no time\n");
    }

    #[test]
    fn labels_are_padded_to_the_widest_but_a_huge_one_does_not_widen_the_column() {
        let huge = "x".repeat(1000);
        assert_eq!(label_width(["a", "svc-b", huge.as_str()]), 5);
        assert_eq!(label_width(["\u{1b}"]), 6);
        let mut out = String::new();
        record_line(&mut out, 1, Some("T"), "a", 5, "INFO hi");
        record_line(&mut out, 1, None, &huge[..30], 5, "");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "  T a     | INFO hi");
        assert_eq!(lines[1], format!("  {} |", &huge[..30]));
    }
}
