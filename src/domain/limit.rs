//! The `limit` query parameter of every list route, parsed once.

use super::invalid::Invalid;

/// A page size in `1..=max`: parsed from the raw `limit` query value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    /// Absent means `default`; anything not an integer in `1..=max` is refused.
    pub fn parse(raw: Option<&str>, default: u32, max: u32) -> Result<Limit, Invalid> {
        debug_assert!((1..=max).contains(&default));
        let Some(raw) = raw else { return Ok(Limit(default)) };
        raw.parse::<u32>().ok().filter(|n| (1..=max).contains(n)).map(Limit).ok_or_else(|| Invalid::OutOfRange {
            field: "limit".into(),
            min: 1,
            max: i64::from(max),
        })
    }

    /// The page size.
    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn absent_is_the_default_and_the_edges_hold() {
        assert_eq!(Limit::parse(None, 10, 50).unwrap().get(), 10);
        assert_eq!(Limit::parse(Some("1"), 10, 50).unwrap().get(), 1);
        assert_eq!(Limit::parse(Some("50"), 10, 50).unwrap().get(), 50);
    }

    #[test]
    fn anything_else_is_a_400_naming_the_range() {
        for bad in ["0", "51", "-1", "x", "", "1.5", " 5", "5 ", "１", "99999999999"] {
            let e = ApiError::from(Limit::parse(Some(bad), 10, 50).unwrap_err());
            assert_eq!((e.status, e.message.as_str()), (400, "limit must be an integer in 1..50"), "{bad}");
        }
    }
}
