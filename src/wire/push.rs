//! Push tokens and session push events (/v1/push-tokens, /v1/sessions/:id/push-event).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::push_tokens::PushTokenRow;

/// POST /v1/push-tokens.
#[derive(Deserialize, JsonSchema)]
pub struct TokenBody {
    pub token: String,
}

/// A registered Expo token.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushToken {
    pub id: String,
    pub token: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<PushTokenRow> for PushToken {
    fn from(r: PushTokenRow) -> Self {
        PushToken { id: r.id, token: r.token, created_at: r.created_at, updated_at: r.updated_at }
    }
}

/// GET /v1/push-tokens, oldest first.
#[derive(Serialize, JsonSchema)]
pub struct PushTokenList {
    pub tokens: Vec<PushToken>,
}

/// What a session tells the account's devices about.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Done,
    Permission,
    Question,
}

impl EventKind {
    pub fn parse(s: &str) -> Option<EventKind> {
        match s {
            "done" => Some(EventKind::Done),
            "permission" => Some(EventKind::Permission),
            "question" => Some(EventKind::Question),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Done => "done",
            EventKind::Permission => "permission",
            EventKind::Question => "question",
        }
    }
}

/// POST /v1/sessions/:id/push-event.
#[derive(Deserialize, JsonSchema)]
pub struct PushEventBody {
    /// Parsed by [`EventKind::parse`], whose 400 names the choices.
    #[schemars(with = "EventKind")]
    pub kind: String,
    pub title: String,
    pub body: String,
    /// An object of at most 2 KiB, checked by the route (whose 400 says which).
    #[serde(default)]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub data: Option<Value>,
}

/// What became of a push event.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushResult {
    /// Every token was accepted.
    Sent,
    /// Some were.
    Partial,
    /// The app is in the foreground: its socket already shows the event.
    Suppressed,
    NoTokens,
    /// None was.
    Failed,
}

impl PushResult {
    /// `Sent` when every token was accepted, `Partial` for some, `Failed` for none.
    pub fn of(tokens: usize, delivered: usize) -> PushResult {
        match delivered {
            0 => PushResult::Failed,
            d if d >= tokens => PushResult::Sent,
            _ => PushResult::Partial,
        }
    }
}

/// The push event's answer.
#[derive(Serialize, JsonSchema)]
pub struct PushOutcome {
    pub success: bool,
    pub result: PushResult,
    /// The account's tokens the event was for.
    pub tokens: usize,
    /// How many the push service accepted; absent when it was not asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PushOutcome {
    /// Not sent to the push service.
    pub fn skipped(result: PushResult, tokens: usize, reason: Option<&str>) -> Self {
        PushOutcome { success: true, result, tokens, delivered: None, reason: reason.map(str::to_string) }
    }

    /// The push service's answer: `delivered` of `tokens` accepted.
    pub fn delivered(tokens: usize, delivered: usize, reason: Option<String>) -> Self {
        PushOutcome {
            success: true,
            result: PushResult::of(tokens, delivered),
            tokens,
            delivered: Some(delivered),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let cases = [
            (
                PushOutcome::skipped(PushResult::NoTokens, 0, None),
                json!({"success": true, "result": "no_tokens", "tokens": 0}),
            ),
            (
                PushOutcome::skipped(PushResult::Suppressed, 2, Some("app-active")),
                json!({"success": true, "result": "suppressed", "tokens": 2, "reason": "app-active"}),
            ),
            (
                PushOutcome::delivered(2, 0, Some("push service answered 500".into())),
                json!({"success": true, "result": "failed", "tokens": 2, "delivered": 0, "reason": "push service answered 500"}),
            ),
            (
                PushOutcome::delivered(3, 3, None),
                json!({"success": true, "result": "sent", "tokens": 3, "delivered": 3}),
            ),
        ];
        for (typed, expected) in cases {
            assert_eq!(to_string(&typed).unwrap(), expected.to_string());
        }
        let row = PushTokenRow { id: "i".into(), token: "t".into(), created_at: 1, updated_at: 2 };
        assert_eq!(
            to_string(&PushTokenList { tokens: vec![row.into()] }).unwrap(),
            json!({"tokens": [{"id": "i", "token": "t", "createdAt": 1, "updatedAt": 2}]}).to_string()
        );
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let outcome = to_value(PushOutcome::delivered(3, 1, Some("DeviceNotRegistered".into()))).unwrap();
        conforms(&response_schema::<PushOutcome>(), &outcome).unwrap();
        assert!(conforms(&response_schema::<PushOutcome>(), &json!({"success": true, "result": "lost", "tokens": 1}))
            .is_err());
        let body = json!({"kind": "question", "title": "T", "body": "B", "data": {"x": 1}});
        conforms(&request_schema::<PushEventBody>(), &body).unwrap();
        conforms(&request_schema::<PushEventBody>(), &json!({"kind": "done", "title": "T", "body": "B", "data": null}))
            .unwrap();
        assert!(
            conforms(&request_schema::<PushEventBody>(), &json!({"kind": "other", "title": "T", "body": "B"})).is_err()
        );
    }

    #[test]
    fn kinds_and_results_read_as_sent() {
        for kind in [EventKind::Done, EventKind::Permission, EventKind::Question] {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(EventKind::parse("Done"), None);
        assert_eq!(
            (PushResult::of(3, 3), PushResult::of(3, 1), PushResult::of(3, 0)),
            (PushResult::Sent, PushResult::Partial, PushResult::Failed)
        );
    }
}
