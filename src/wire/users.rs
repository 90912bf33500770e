//! Other users' bodies (/v1/users, /v1/user, /v1/friends), also the profiles in
//! `relationship-updated`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::account::json_column;
use crate::db::relationships::UserRow;
use crate::domain::social::Status;

/// UserProfile as the app validates it: `avatar` and `bio` always present, `status` how the
/// viewer sees this user.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    pub id: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub avatar: Value,
    pub username: String,
    pub bio: Option<String>,
    pub status: Status,
}

impl UserProfile {
    /// The username falls back to the GitHub login, the bio comes from the GitHub profile.
    pub fn new(row: &UserRow, status: Status) -> Self {
        let github = json_column(row.github_profile.as_deref());
        let username =
            row.username.clone().or_else(|| github["login"].as_str().map(str::to_string)).unwrap_or_default();
        UserProfile {
            id: row.id.clone(),
            first_name: row.first_name.clone().unwrap_or_default(),
            last_name: row.last_name.clone(),
            avatar: json_column(row.avatar.as_deref()),
            username,
            bio: github["bio"].as_str().map(str::to_string),
            status,
        }
    }

    /// With the status the viewer sees.
    pub fn viewed(row: &UserRow) -> Self {
        UserProfile::new(row, row.status())
    }
}

/// `relationship-updated` (docs/compatibility.md#server-events: the app's union, not
/// upstream's unused `{uid, status}` builder), to both users of the pair.
#[derive(Serialize)]
#[serde(tag = "t", rename = "relationship-updated", rename_all = "camelCase")]
pub struct RelationshipUpdated<'a> {
    pub from_user_id: &'a str,
    pub to_user_id: &'a str,
    /// The recipient's own view of the other user after the change.
    pub status: &'a str,
    pub action: &'a str,
    pub from_user: &'a UserProfile,
    pub to_user: &'a UserProfile,
    pub timestamp: i64,
}

/// The search.
#[derive(Serialize, JsonSchema)]
pub struct UserList {
    pub users: Vec<UserProfile>,
}

/// One user.
#[derive(Serialize, JsonSchema)]
pub struct OneUser {
    pub user: UserProfile,
}

/// GET /v1/friends.
#[derive(Serialize, JsonSchema)]
pub struct FriendList {
    pub friends: Vec<UserProfile>,
}

/// A friend request's change: the other user as the caller now sees them, null for oneself or
/// an unknown user.
#[derive(Serialize, JsonSchema)]
pub struct FriendChanged {
    pub user: Option<UserProfile>,
}

/// POST /v1/friends/add and /remove.
#[derive(Deserialize, JsonSchema)]
pub struct UidBody {
    pub uid: String,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, response_schema};

    fn row(username: Option<&str>) -> UserRow {
        UserRow {
            id: "u1".into(),
            first_name: None,
            last_name: Some("L".into()),
            username: username.map(Into::into),
            avatar: None,
            github_profile: Some(r#"{"login":"gh","bio":"hi"}"#.into()),
            status: "pending".into(),
        }
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let wire = |username: &str| {
            json!({"id": "u1", "firstName": "", "lastName": "L", "avatar": null, "username": username,
                "bio": "hi", "status": "pending"})
        };
        assert_eq!(
            to_string(&OneUser { user: UserProfile::viewed(&row(None)) }).unwrap(),
            json!({"user": wire("gh")}).to_string()
        );
        assert_eq!(
            to_string(&UserList { users: vec![UserProfile::viewed(&row(Some("me")))] }).unwrap(),
            json!({"users": [wire("me")]}).to_string()
        );
        assert_eq!(
            to_string(&FriendList { friends: vec![UserProfile::new(&row(None), Status::Friend)] }).unwrap(),
            json!({"friends": [{"id": "u1", "firstName": "", "lastName": "L", "avatar": null, "username": "gh",
                "bio": "hi", "status": "friend"}]})
            .to_string()
        );
        assert_eq!(to_string(&FriendChanged { user: None }).unwrap(), json!({"user": null}).to_string());
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let one = to_value(FriendChanged { user: Some(UserProfile::viewed(&row(None))) }).unwrap();
        conforms(&response_schema::<FriendChanged>(), &one).unwrap();
        conforms(&response_schema::<FriendChanged>(), &json!({"user": null})).unwrap();
        let list = to_value(UserList { users: vec![UserProfile::viewed(&row(Some("me")))] }).unwrap();
        conforms(&response_schema::<UserList>(), &list).unwrap();
        let mut wrong = one;
        wrong["user"]["status"] = json!("blocked");
        assert!(conforms(&response_schema::<FriendChanged>(), &wrong).is_err());
    }
}
