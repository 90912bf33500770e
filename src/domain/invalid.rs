//! The one error for a client value refused at the boundary, and its one mapping to `ApiError`.

use crate::error::ApiError;

/// Why a client value was refused; `field` names the parameter or body field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// An empty string where one is required.
    Empty { field: String },
    /// More than `max` characters (code points, as JSON Schema's `maxLength` counts).
    TooLong { field: String, max: usize },
    /// More than `max` bytes of a key blob.
    TooManyBytes { field: String, max: usize },
    /// More than `max` bytes of an opaque payload: a 413.
    TooLarge { field: String, max: usize },
    /// Not an integer in `min..=max`.
    OutOfRange { field: String, min: i64, max: i64 },
    /// Not an integer of at least `min`.
    TooSmall { field: String, min: i64 },
    /// A display text that is empty once trimmed, too long or holds control characters.
    NotPrintable { field: String, max: usize },
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        match e {
            Invalid::Empty { field } => ApiError::bad_request(format!("{field} must not be empty")),
            Invalid::TooLong { field, max } => {
                ApiError::bad_request(format!("{field} must be at most {max} characters"))
            }
            Invalid::TooManyBytes { field, max } => {
                ApiError::bad_request(format!("{field} must be at most {max} bytes"))
            }
            Invalid::TooLarge { field, max } => ApiError::too_large(format!("{field} exceeds {max} bytes")),
            Invalid::OutOfRange { field, min, max } => {
                ApiError::bad_request(format!("{field} must be an integer in {min}..{max}"))
            }
            Invalid::TooSmall { field, min } => ApiError::bad_request(format!("{field} must be an integer >= {min}")),
            Invalid::NotPrintable { field, max } => {
                ApiError::bad_request(format!("{field} must be 1..{max} printable characters"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(e: Invalid) -> (u16, String) {
        let e = ApiError::from(e);
        (e.status, e.message)
    }

    #[test]
    fn maps_each_refusal_to_its_status_and_message() {
        let f = || "tag".to_string();
        assert_eq!(mapped(Invalid::Empty { field: f() }), (400, "tag must not be empty".into()));
        assert_eq!(mapped(Invalid::TooLong { field: f(), max: 5 }), (400, "tag must be at most 5 characters".into()));
        assert_eq!(mapped(Invalid::TooLarge { field: f(), max: 3 }), (413, "tag exceeds 3 bytes".into()));
        assert_eq!(mapped(Invalid::TooManyBytes { field: f(), max: 3 }), (400, "tag must be at most 3 bytes".into()));
        assert_eq!(
            mapped(Invalid::OutOfRange { field: "limit".into(), min: 1, max: 50 }),
            (400, "limit must be an integer in 1..50".into())
        );
        assert_eq!(
            mapped(Invalid::TooSmall { field: "before_seq".into(), min: 1 }),
            (400, "before_seq must be an integer >= 1".into())
        );
        assert_eq!(
            mapped(Invalid::NotPrintable { field: "name".into(), max: 100 }),
            (400, "name must be 1..100 printable characters".into())
        );
    }
}
