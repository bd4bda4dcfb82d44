//! Parsing of human-friendly sizes (`64MiB`) and durations (`30s`).

use std::time::Duration;

/// A size or duration string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{input}': {reason}")]
pub struct UnitError {
    /// "size" or "duration".
    pub what: &'static str,
    /// The rejected text.
    pub input: String,
    /// Why it was rejected.
    pub reason: &'static str,
}

fn split_number(input: &str) -> Option<(u64, &str)> {
    let trimmed = input.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let number = trimmed[..digits].parse().ok()?;
    Some((number, trimmed[digits..].trim()))
}

/// Parses a byte size: a plain number of bytes, or a number with one of the
/// suffixes `B`, `KB`, `MB`, `GB` (powers of 1000) or `KiB`, `MiB`, `GiB`
/// (powers of 1024).
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    let err = |reason| UnitError {
        what: "size",
        input: input.to_string(),
        reason,
    };
    let (number, suffix) = split_number(input).ok_or_else(|| err("expected a number"))?;
    let factor: u64 = match suffix {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000 * 1000,
        "GB" => 1000 * 1000 * 1000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(err("unknown unit (use B, KB, MB, GB, KiB, MiB or GiB)")),
    };
    number.checked_mul(factor).ok_or_else(|| err("too large"))
}

/// Parses a duration: a number with one of the suffixes `ms`, `s`, `m`, `h`.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let err = |reason| UnitError {
        what: "duration",
        input: input.to_string(),
        reason,
    };
    let (number, suffix) = split_number(input).ok_or_else(|| err("expected a number"))?;
    let millis: u64 = match suffix {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "" => return Err(err("missing unit (use ms, s, m or h)")),
        _ => return Err(err("unknown unit (use ms, s, m or h)")),
    };
    number
        .checked_mul(millis)
        .map(Duration::from_millis)
        .ok_or_else(|| err("too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1 KB"), Ok(1000));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
