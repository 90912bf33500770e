//! AI vendor tokens and the GitHub connection (/v1/connect).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// POST /v1/connect/:vendor/register: the vendor's credentials, as the client stringified them.
#[derive(Deserialize, JsonSchema)]
pub struct RegisterBody {
    pub token: String,
}

/// GET /v1/connect/:vendor/token: `null` when none is stored (or it no longer opens).
#[derive(Serialize, JsonSchema)]
pub struct VendorToken {
    pub token: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct VendorTokenEntry {
    pub vendor: String,
    pub token: String,
}

/// GET /v1/connect/tokens: every stored token that opens.
#[derive(Serialize, JsonSchema)]
pub struct VendorTokenList {
    pub tokens: Vec<VendorTokenEntry>,
}

/// GET /v1/connect/github/params: where to send the user to authorize.
#[derive(Serialize, JsonSchema)]
pub struct AuthorizeUrl {
    pub url: String,
}

/// POST /v1/connect/github/webhook: a delivery whose signature held.
#[derive(Serialize, JsonSchema)]
pub struct WebhookReceived {
    pub received: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, response_schema};

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let entry = VendorTokenEntry { vendor: "openai".into(), token: "t".into() };
        assert_eq!(
            to_string(&VendorTokenList { tokens: vec![entry] }).unwrap(),
            json!({"tokens": [{"vendor": "openai", "token": "t"}]}).to_string()
        );
        assert_eq!(to_string(&VendorToken { token: None }).unwrap(), json!({"token": null}).to_string());
        assert_eq!(to_string(&AuthorizeUrl { url: "u".into() }).unwrap(), json!({"url": "u"}).to_string());
        assert_eq!(to_string(&WebhookReceived { received: true }).unwrap(), json!({"received": true}).to_string());
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let schema = response_schema::<VendorToken>();
        conforms(&schema, &to_value(VendorToken { token: Some("t".into()) }).unwrap()).unwrap();
        conforms(&schema, &to_value(VendorToken { token: None }).unwrap()).unwrap();
        assert!(conforms(&schema, &json!({})).is_err(), "token is always sent, null when absent");
    }
}
