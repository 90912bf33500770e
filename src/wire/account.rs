//! The caller's account bodies (/v1/account, /v1/account/settings and its alias
//! /v1/account/preferences).

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::VersionMismatch;
use crate::db::accounts::AccountRow;
use crate::db::versioned::Versioned;

/// A stored JSON column (avatar, GitHub profile) as a value, `null` when absent or unreadable.
pub fn json_column(raw: Option<&str>) -> Value {
    raw.and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null)
}

/// The caller's profile. `avatar` and `github` are stored JSON, passed on as they are.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub id: String,
    pub timestamp: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub avatar: Value,
    pub github: Value,
    pub connected_services: Vec<String>,
}

impl Profile {
    pub fn new(row: AccountRow, connected_services: Vec<String>, timestamp: i64) -> Self {
        Profile {
            avatar: json_column(row.avatar.as_deref()),
            github: json_column(row.github_profile.as_deref()),
            id: row.id,
            timestamp,
            first_name: row.first_name,
            last_name: row.last_name,
            username: row.username,
            connected_services,
        }
    }
}

/// PUT /v1/account.
#[derive(Serialize, JsonSchema)]
pub struct ProfileEdited {
    pub success: bool,
    pub profile: Profile,
}

/// GET of the settings.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub settings: Option<String>,
    pub settings_version: i64,
}

impl From<Versioned> for Settings {
    fn from(v: Versioned) -> Self {
        Settings { settings: v.value, settings_version: v.version }
    }
}

/// Compare-and-set of the settings: the new version, or (still 200) what another write left.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SettingsWritten {
    Applied {
        success: bool,
        version: i64,
    },
    #[serde(rename_all = "camelCase")]
    Mismatch {
        success: bool,
        error: VersionMismatch,
        current_version: i64,
        current_settings: Option<String>,
    },
}

/// Absent stays `None`; `null` becomes `Some(None)` (clear the field).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// PUT /v1/account: each present field is written, `null` clears it.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileEdit {
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub username: Option<Option<String>>,
}

/// `update-account` (docs/protocol.md#updates): the account's id and only what changed, a
/// cleared field as `null`.
#[derive(Serialize, Default)]
#[serde(tag = "t", rename = "update-account", rename_all = "camelCase")]
pub struct AccountUpdate {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<super::Versioned<Option<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<Option<String>>,
    /// The stored avatar (`{path, url, width, height, thumbhash}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<Value>,
    /// The linked GitHub profile as GitHub gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github: Option<Value>,
}

/// The settings' compare-and-set; absent settings clear them.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsWrite {
    #[serde(default)]
    pub settings: Option<String>,
    pub expected_version: i64,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    fn profile() -> Profile {
        let row = AccountRow {
            id: "u1".into(),
            first_name: Some("Ada".into()),
            last_name: None,
            username: Some("ada".into()),
            avatar: Some(r#"{"path":"p","width":2}"#.into()),
            github_profile: Some("not json".into()),
        };
        Profile::new(row, vec!["openai".into()], 9)
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let wire = json!({"id": "u1", "timestamp": 9, "firstName": "Ada", "lastName": null, "username": "ada",
            "avatar": {"path": "p", "width": 2}, "github": null, "connectedServices": ["openai"]});
        assert_eq!(to_string(&profile()).unwrap(), wire.to_string());
        assert_eq!(
            to_string(&ProfileEdited { success: true, profile: profile() }).unwrap(),
            json!({"success": true, "profile": wire}).to_string()
        );
        let settings = Settings::from(Versioned { value: None, version: 3 });
        assert_eq!(to_string(&settings).unwrap(), json!({"settings": null, "settingsVersion": 3}).to_string());
        assert_eq!(
            to_string(&SettingsWritten::Applied { success: true, version: 4 }).unwrap(),
            json!({"success": true, "version": 4}).to_string()
        );
        let mismatch = SettingsWritten::Mismatch {
            success: false,
            error: VersionMismatch::VersionMismatch,
            current_version: 4,
            current_settings: Some("s".into()),
        };
        assert_eq!(
            to_string(&mismatch).unwrap(),
            json!({"success": false, "error": "version-mismatch", "currentVersion": 4, "currentSettings": "s"})
                .to_string()
        );
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let edited = to_value(ProfileEdited { success: true, profile: profile() }).unwrap();
        conforms(&response_schema::<ProfileEdited>(), &edited).unwrap();
        let settings = to_value(Settings { settings: Some("s".into()), settings_version: 1 }).unwrap();
        conforms(&response_schema::<Settings>(), &settings).unwrap();
        let mismatch = to_value(SettingsWritten::Mismatch {
            success: false,
            error: VersionMismatch::VersionMismatch,
            current_version: 4,
            current_settings: None,
        });
        conforms(&response_schema::<SettingsWritten>(), &mismatch.unwrap()).unwrap();
        assert!(conforms(&response_schema::<Profile>(), &json!({"id": "u1", "timestamp": 1})).is_err());
    }

    /// (the derived schema accepts `body`, the type parses it): both agree.
    fn accepted<T: serde::de::DeserializeOwned + JsonSchema>(body: Value) -> (bool, bool) {
        (conforms(&request_schema::<T>(), &body).is_ok(), serde_json::from_value::<T>(body).is_ok())
    }

    #[test]
    fn request_schemas_accept_what_the_types_parse() {
        assert_eq!(accepted::<ProfileEdit>(json!({"firstName": null, "username": "u"})), (true, true));
        assert_eq!(accepted::<ProfileEdit>(json!({"lastName": 1})), (false, false));
        assert_eq!(accepted::<SettingsWrite>(json!({"expectedVersion": 0})), (true, true));
        assert_eq!(accepted::<SettingsWrite>(json!({"settings": "s"})), (false, false));
        let edit: ProfileEdit = serde_json::from_value(json!({"firstName": null})).unwrap();
        assert_eq!((edit.first_name, edit.last_name), (Some(None), None), "null clears, absent keeps");
    }
}
