//! Voice: ElevenLabs conversation tokens within a monthly allowance (/v1/voice).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Bool;

/// POST /v1/voice/token. Seed clients also send `revenueCatPublicKey`; it is ignored: the
/// server asks RevenueCat with its own key.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenBody {
    pub agent_id: Option<String>,
    pub revenue_cat_public_key: Option<String>,
}

/// POST /v1/voice/token's answer: a token only for a subscriber.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoiceToken {
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub agent_id: String,
}

/// POST /v1/voice/conversations.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationBody {
    pub agent_id: String,
}

/// POST /v1/voice/conversations' answer, told apart by `allowed`.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Conversation {
    Granted(Granted),
    Refused(Refused),
}

/// A conversation charged against the allowance, with its ElevenLabs token.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Granted {
    pub allowed: Bool<true>,
    pub conversation_token: String,
    pub conversation_id: String,
    pub agent_id: String,
    pub eleven_user_id: String,
    pub used_seconds: i64,
    pub limit_seconds: i64,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// The month's allowance is spent.
    VoiceHardLimitReached,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Refused {
    pub allowed: Bool<false>,
    pub reason: RefusalReason,
    pub used_seconds: i64,
    pub limit_seconds: i64,
    pub agent_id: String,
}

/// GET /v1/voice/usage: this UTC month's charged seconds.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoiceUsage {
    pub used_seconds: i64,
    pub limit_seconds: i64,
    pub eleven_user_id: String,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, response_schema};

    fn granted() -> Conversation {
        Conversation::Granted(Granted {
            allowed: Bool,
            conversation_token: "t".into(),
            conversation_id: "c".into(),
            agent_id: "a".into(),
            eleven_user_id: "u_1".into(),
            used_seconds: 600,
            limit_seconds: 3600,
        })
    }

    fn refused() -> Conversation {
        Conversation::Refused(Refused {
            allowed: Bool,
            reason: RefusalReason::VoiceHardLimitReached,
            used_seconds: 3600,
            limit_seconds: 3600,
            agent_id: "a".into(),
        })
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        assert_eq!(
            to_string(&granted()).unwrap(),
            json!({"allowed": true, "conversationToken": "t", "conversationId": "c", "agentId": "a",
                   "elevenUserId": "u_1", "usedSeconds": 600, "limitSeconds": 3600})
            .to_string()
        );
        assert_eq!(
            to_string(&refused()).unwrap(),
            json!({"allowed": false, "reason": "voice_hard_limit_reached", "usedSeconds": 3600,
                   "limitSeconds": 3600, "agentId": "a"})
            .to_string()
        );
        let token = VoiceToken { allowed: true, token: Some("t".into()), agent_id: "a".into() };
        assert_eq!(to_string(&token).unwrap(), json!({"allowed": true, "token": "t", "agentId": "a"}).to_string());
        let none = VoiceToken { allowed: false, token: None, agent_id: "a".into() };
        assert_eq!(to_string(&none).unwrap(), json!({"allowed": false, "agentId": "a"}).to_string());
        let usage = VoiceUsage { used_seconds: 1, limit_seconds: 2, eleven_user_id: "u".into() };
        assert_eq!(
            to_string(&usage).unwrap(),
            json!({"usedSeconds": 1, "limitSeconds": 2, "elevenUserId": "u"}).to_string()
        );
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let schema = response_schema::<Conversation>();
        conforms(&schema, &to_value(granted()).unwrap()).unwrap();
        conforms(&schema, &to_value(refused()).unwrap()).unwrap();
        // `allowed` tells the variants apart: a grant without a token is neither.
        let half = json!({"allowed": true, "usedSeconds": 1, "limitSeconds": 2, "agentId": "a",
                          "reason": "voice_hard_limit_reached"});
        assert!(conforms(&schema, &half).is_err());
    }
}
