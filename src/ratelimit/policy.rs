//! The rate policy `N/DURATION` (e.g. `2/300s`, `80/1s`): at most N requests per window.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// At most `limit` requests in any window of `window`.
///
/// Parsed from `N/DURATION` where DURATION is a humantime duration (`300s`, `5m`, `1s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub limit: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate `{input}`: {why}; expected N/DURATION such as `2/300s`, `4/2s` or `80/1s`")]
pub struct RateError {
    input: String,
    why: &'static str,
}

impl Rate {
    pub fn new(limit: u32, window: Duration) -> Self {
        Rate { limit, window }
    }

    /// Requests per second, for display and for choosing a pacing mode.
    pub fn per_second(&self) -> f64 {
        f64::from(self.limit) / self.window.as_secs_f64()
    }
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| RateError {
            input: s.to_string(),
            why,
        };
        let (n, d) = s.trim().split_once('/').ok_or_else(|| err("missing `/`"))?;
        let limit: u32 = n
            .trim()
            .parse()
            .map_err(|_| err("N must be a whole number"))?;
        if limit == 0 {
            return Err(err("N must be at least 1"));
        }
        let d = d.trim();
        // `2/s` reads naturally as "2 per second"; accept a bare unit.
        let d = if d.starts_with(|c: char| c.is_ascii_digit()) {
            d.to_string()
        } else {
            format!("1{d}")
        };
        let window = crate::duration::parse(&d)
            .map_err(|_| err("DURATION must look like 300s, 5m or 1s"))?;
        if window.is_zero() {
            return Err(err("DURATION must be longer than zero"));
        }
        Ok(Rate { limit, window })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.limit,
            humantime::format_duration(self.window)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_provider_and_scaled_rates() {
        assert_eq!(
            "2/300s".parse::<Rate>().unwrap(),
            Rate::new(2, Duration::from_secs(300))
        );
        assert_eq!(
            "4/2s".parse::<Rate>().unwrap(),
            Rate::new(4, Duration::from_secs(2))
        );
        assert_eq!(
            "80/1s".parse::<Rate>().unwrap(),
            Rate::new(80, Duration::from_secs(1))
        );
        assert_eq!(
            "10/s".parse::<Rate>().unwrap(),
            Rate::new(10, Duration::from_secs(1))
        );
        assert_eq!(
            "2/5m".parse::<Rate>().unwrap(),
            Rate::new(2, Duration::from_secs(300))
        );
        assert_eq!(
            "5/250ms".parse::<Rate>().unwrap(),
            Rate::new(5, Duration::from_millis(250))
        );
    }

    #[test]
    fn rejects_malformed_rates_with_a_hint() {
        for bad in ["", "2", "0/1s", "x/1s", "2/0s", "2/fast"] {
            let e = bad.parse::<Rate>().unwrap_err().to_string();
            assert!(e.contains("N/DURATION"), "{bad}: {e}");
        }
    }

    #[test]
    fn displays_round_trip() {
        let r: Rate = "2/300s".parse().unwrap();
        assert_eq!(r.to_string(), "2/5m");
        assert_eq!(r.to_string().parse::<Rate>().unwrap(), r);
    }
}
