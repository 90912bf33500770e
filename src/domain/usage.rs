//! Usage reports: the `tokens` and `cost` objects a CLI sends (`{total, input, output, ...}`),
//! and the time buckets of POST /v1/usage/query.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::text::Text;
use crate::error::{ApiError, ApiResult};

pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_FIELDS: usize = 32;
pub const MAX_FIELD_CHARS: usize = 64;

/// A flat object of finite numbers, bounded in size.
pub fn counters<'a>(name: &str, value: &'a Value) -> ApiResult<&'a Map<String, Value>> {
    let obj = value.as_object().ok_or_else(|| ApiError::bad_request(format!("{name} must be an object")))?;
    if obj.len() > MAX_FIELDS {
        return Err(ApiError::bad_request(format!("{name} has more than {MAX_FIELDS} fields")));
    }
    for (k, v) in obj {
        Text::parse(name, k, MAX_FIELD_CHARS)?;
        if !v.as_f64().is_some_and(f64::is_finite) {
            return Err(ApiError::bad_request(format!("{name}.{k} must be a number")));
        }
    }
    Ok(obj)
}

pub fn report_key(key: &str) -> ApiResult<&str> {
    Ok(Text::parse("key", key, MAX_KEY_CHARS)?.as_str())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Hour,
    Day,
}

impl GroupBy {
    pub fn parse(s: Option<&str>) -> ApiResult<GroupBy> {
        match s {
            None | Some("day") => Ok(GroupBy::Day),
            Some("hour") => Ok(GroupBy::Hour),
            Some(_) => Err(ApiError::bad_request("groupBy must be 'hour' or 'day'")),
        }
    }
    /// Bucket width in seconds (UTC buckets).
    pub fn seconds(self) -> i64 {
        match self {
            GroupBy::Hour => 3600,
            GroupBy::Day => 86_400,
        }
    }
}

/// A summed counter as JSON: integral sums stay integers (`12`, not `12.0`).
pub fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counters_are_flat_numeric_objects() {
        assert!(counters("tokens", &json!({"total": 10, "input": 4.5})).is_ok());
        assert!(counters("tokens", &json!({})).is_ok());
        for bad in [json!([]), json!({"a": "1"}), json!({"a": {"b": 1}}), json!({"a": null}), json!(5)] {
            assert_eq!(counters("tokens", &bad).unwrap_err().status, 400, "{bad}");
        }
        let wide: Map<String, Value> = (0..33).map(|i| (format!("k{i}"), json!(1))).collect();
        assert!(counters("cost", &Value::Object(wide)).is_err());
    }

    #[test]
    fn group_by_and_numbers() {
        assert_eq!(GroupBy::parse(None).unwrap(), GroupBy::Day);
        assert_eq!(GroupBy::parse(Some("hour")).unwrap().seconds(), 3600);
        assert!(GroupBy::parse(Some("week")).is_err());
        assert_eq!(number(12.0), json!(12));
        assert_eq!(number(0.25), json!(0.25));
    }
}
