//! Record levels as slog writes them, for the `--level` filter.

use std::fmt;
use std::str::FromStr;

/// A record's level, least severe first, so `a >= b` reads "a is at least as severe as b".
///
/// Parsed from the four-letter names slog and slog-json write (`TRCE`, `DEBG`, `INFO`,
/// `WARN`, `ERRO`, `CRIT`) or from the words `trace`, `debug`, `info`, `warn`/`warning`,
/// `error`, `critical`, in any case:
///
/// ```
/// use token_runtime_id_tree::Level;
///
/// assert_eq!("WARN".parse::<Level>()?, Level::Warning);
/// assert_eq!("Warning".parse::<Level>()?, Level::Warning);
/// assert!(Level::Error > Level::Warning);
/// assert_eq!(Level::Debug.to_string(), "DEBG");
/// let err = "loud".parse::<Level>().unwrap_err();
/// assert!(err.to_string().starts_with("unknown level \"loud\""));
/// # Ok::<(), token_runtime_id_tree::UnknownLevel>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `TRCE`, the least severe.
    Trace,
    /// `DEBG`.
    Debug,
    /// `INFO`.
    Info,
    /// `WARN`.
    Warning,
    /// `ERRO`.
    Error,
    /// `CRIT`, the most severe.
    Critical,
}

impl Level {
    /// Every level, least severe first.
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Critical,
    ];

    /// The four-letter name slog writes: `TRCE`, `DEBG`, `INFO`, `WARN`, `ERRO`, `CRIT`.
    ///
    /// ```
    /// assert_eq!(token_runtime_id_tree::Level::Critical.as_short_str(), "CRIT");
    /// ```
    pub const fn as_short_str(self) -> &'static str {
        match self {
            Level::Trace => "TRCE",
            Level::Debug => "DEBG",
            Level::Info => "INFO",
            Level::Warning => "WARN",
            Level::Error => "ERRO",
            Level::Critical => "CRIT",
        }
    }

    /// The word for it: `trace`, `debug`, `info`, `warning`, `error`, `critical`.
    ///
    /// ```
    /// assert_eq!(token_runtime_id_tree::Level::Warning.as_word(), "warning");
    /// ```
    pub const fn as_word(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_short_str())
    }
}

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|level| {
                text.eq_ignore_ascii_case(level.as_short_str())
                    || text.eq_ignore_ascii_case(level.as_word())
                    || (*level == Level::Warning && text.eq_ignore_ascii_case("warn"))
            })
            .ok_or_else(|| UnknownLevel {
                value: text.to_owned(),
            })
    }
}

/// A level name that is none of those [`Level`] accepts; its message names the value
/// (escaped) and lists the accepted names.
///
/// ```
/// let err = "verbose".parse::<token_runtime_id_tree::Level>().unwrap_err();
/// assert_eq!(err.value(), "verbose");
/// assert!(err.to_string().contains("TRCE, DEBG, INFO, WARN, ERRO, CRIT"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLevel {
    value: String,
}

impl UnknownLevel {
    /// The text that was not a level.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short: Vec<&str> = Level::ALL.iter().map(|l| l.as_short_str()).collect();
        let words: Vec<&str> = Level::ALL.iter().map(|l| l.as_word()).collect();
        write!(
            f,
            "unknown level {:?}: expected one of {} or {} (in any case)",
            self.value,
            short.join(", "),
            words.join(", ")
        )
    }
}

impl std::error::Error for UnknownLevel {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_word_round_trips_in_any_case() {
        for level in Level::ALL {
            for name in [level.as_short_str(), level.as_word()] {
                assert_eq!(name.parse::<Level>(), Ok(level));
                assert_eq!(name.to_lowercase().parse::<Level>(), Ok(level));
                assert_eq!(name.to_uppercase().parse::<Level>(), Ok(level));
            }
        }
        assert_eq!("warn".parse::<Level>(), Ok(Level::Warning));
    }

    #[test]
    fn levels_are_ordered_by_severity() {
        let mut sorted = Level::ALL;
        sorted.sort();
        assert_eq!(sorted, Level::ALL);
        assert!(Level::Trace < Level::Debug && Level::Error < Level::Critical);
    }

    #[test]
    fn near_misses_are_refused_with_the_value_escaped() {
        for bad in [
            "",
            "inf",
            "INFOO",
            "fatal",
            "warnings",
            " info",
            "\u{1b}[31m",
        ] {
            let err = bad.parse::<Level>().unwrap_err();
            assert_eq!(err.value(), bad);
            assert!(!err.to_string().contains('\u{1b}'), "{err}");
        }
    }
}
