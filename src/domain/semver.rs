//! App version comparison for POST /v1/version: `MAJOR[.MINOR[.PATCH]][-pre][+build]`, with an
//! optional leading `v`. A pre-release sorts before its release; build metadata is ignored.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    core: [u64; 3],
    pre: Option<String>,
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = s.split('+').next()?;
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) if !p.is_empty() => (c, Some(p.to_string())),
            Some(_) => return None,
            None => (s, None),
        };
        let mut parts = [0u64; 3];
        for (n, part) in core.split('.').enumerate() {
            if n == 3 || part.is_empty() || part.len() > 9 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            parts[n] = part.parse().ok()?;
        }
        Some(Version { core: parts, pre })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core.cmp(&other.core).then_with(|| match (&self.pre, &other.pre) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => compare_pre(a, b),
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// SemVer precedence of dot-separated pre-release identifiers: numeric ones compare as numbers
/// and sort before alphanumeric ones; a shorter list of equal identifiers sorts first.
fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// True when `current` is older than the configured `minimum`. An unparsable minimum never
/// forces an update (a configuration typo must not lock every client out).
pub fn needs_update(current: &Version, minimum: &str) -> bool {
    Version::parse(minimum).is_some_and(|min| *current < min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn parses_common_forms() {
        assert_eq!(v("1.4.0"), v("1.4"));
        assert_eq!(v("v2"), v("2.0.0"));
        assert_eq!(v("1.2.3+build.5"), v("1.2.3"));
        for bad in ["", "x", "1..2", "1.2.3.4", "1.-2", "1.2-", "-1", "1.a", "1234567890"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn orders_like_semver() {
        assert!(v("1.4.0") < v("1.10.0"));
        assert!(v("1.4.0-beta") < v("1.4.0"));
        assert!(v("1.4.0-alpha") < v("1.4.0-beta"));
        assert!(v("1.4.0-2") < v("1.4.0-10"));
        assert!(v("1.4.0-rc.1") < v("1.4.0-rc.1.1"));
        assert!(v("1.4.0-1") < v("1.4.0-a"));
        assert!(v("2.0.0") > v("1.99.99"));
    }

    #[test]
    fn update_only_below_a_valid_minimum() {
        assert!(needs_update(&v("1.3.9"), "1.4.0"));
        assert!(!needs_update(&v("1.4.0"), "1.4.0"));
        assert!(!needs_update(&v("1.5.0"), "1.4.0"));
        assert!(!needs_update(&v("0.0.1"), "not-a-version"));
    }
}
