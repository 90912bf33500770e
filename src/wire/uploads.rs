//! Uploaded files and the avatar (/v1/uploads).

use schemars::JsonSchema;
use serde::Serialize;

use crate::db::uploads::FileRow;
use crate::storage::Category;

/// A file as the API shows it.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct File {
    pub id: String,
    /// The object's key in the bucket.
    pub path: String,
    #[schemars(with = "Category")]
    pub category: String,
    pub original_name: String,
    pub content_type: String,
    pub size: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Images only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbhash: Option<String>,
    /// The key a later upload replaces this file by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reuse_key: Option<String>,
}

impl From<&FileRow> for File {
    fn from(r: &FileRow) -> Self {
        File {
            id: r.id.clone(),
            path: r.path.clone(),
            category: r.category.clone(),
            original_name: r.original_name.clone(),
            content_type: r.content_type.clone(),
            size: r.size,
            created_at: r.created_at,
            updated_at: r.updated_at,
            width: r.width,
            height: r.height,
            thumbhash: r.thumbhash.clone(),
            reuse_key: r.reuse_key.clone(),
        }
    }
}

/// POST /v1/uploads.
#[derive(Serialize, JsonSchema)]
pub struct Uploaded {
    pub success: bool,
    pub file: File,
}

/// GET /v1/uploads: a page, newest first; `nextCursor` when there is more.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileList {
    pub files: Vec<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// GET /v1/uploads/:id.
#[derive(Serialize, JsonSchema)]
pub struct FileWithUrl {
    pub file: File,
    pub url: String,
}

/// The account's `avatar` as stored and sent in profile updates.
#[derive(Serialize, JsonSchema)]
pub struct StoredAvatar {
    pub path: String,
    pub url: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// Never computed; `null` for the app's schema.
    pub thumbhash: Option<String>,
}

impl StoredAvatar {
    pub fn of(row: &FileRow, url: String) -> Self {
        StoredAvatar { path: row.path.clone(), url, width: row.width, height: row.height, thumbhash: None }
    }
}

/// The avatar as POST /v1/uploads/avatar answers it; its size only when both sides are known.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvatarFile {
    pub id: String,
    pub path: String,
    pub url: String,
    pub content_type: String,
    pub size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
}

impl AvatarFile {
    pub fn of(row: &FileRow, url: String) -> Self {
        let (width, height) = match (row.width, row.height) {
            (Some(w), Some(h)) => (Some(w), Some(h)),
            _ => (None, None),
        };
        AvatarFile {
            id: row.id.clone(),
            path: row.path.clone(),
            url,
            content_type: row.content_type.clone(),
            size: row.size,
            width,
            height,
        }
    }
}

/// POST /v1/uploads/avatar.
#[derive(Serialize, JsonSchema)]
pub struct AvatarUploaded {
    pub success: bool,
    pub avatar: AvatarFile,
}

/// POST /v1/uploads/sweep: how many objects were listed, and the keys removed.
#[derive(Serialize, JsonSchema)]
pub struct Swept {
    pub scanned: usize,
    pub removed: Vec<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value, Value};

    use super::*;
    use crate::app::schema::{conforms, response_schema};

    fn row(width: Option<i64>, height: Option<i64>, reuse_key: Option<&str>) -> FileRow {
        FileRow {
            id: "i".into(),
            path: "p".into(),
            category: "avatars".into(),
            original_name: "a.png".into(),
            content_type: "image/png".into(),
            size: 10,
            etag: "e".into(),
            width,
            height,
            thumbhash: None,
            reuse_key: reuse_key.map(str::to_string),
            created_at: 1,
            updated_at: 2,
        }
    }

    /// The `json!` file body it replaces: the fixed fields, then each optional one present.
    fn old_wire(r: &FileRow) -> Value {
        let mut v = json!({"id": r.id, "path": r.path, "category": r.category, "originalName": r.original_name,
                           "contentType": r.content_type, "size": r.size, "createdAt": r.created_at,
                           "updatedAt": r.updated_at});
        for (k, val) in [
            ("width", r.width.map(Value::from)),
            ("height", r.height.map(Value::from)),
            ("thumbhash", r.thumbhash.clone().map(Value::from)),
            ("reuseKey", r.reuse_key.clone().map(Value::from)),
        ] {
            if let Some(val) = val {
                v[k] = val;
            }
        }
        v
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        for r in [row(None, None, None), row(Some(3), Some(4), Some("profile-avatar"))] {
            assert_eq!(to_string(&File::from(&r)).unwrap(), old_wire(&r).to_string());
        }
        let r = row(Some(3), None, None);
        assert_eq!(
            to_string(&StoredAvatar::of(&r, "u".into())).unwrap(),
            json!({"path": "p", "url": "u", "width": 3, "height": null, "thumbhash": null}).to_string()
        );
        assert_eq!(
            to_string(&AvatarFile::of(&r, "u".into())).unwrap(),
            json!({"id": "i", "path": "p", "url": "u", "contentType": "image/png", "size": 10}).to_string(),
            "a size with one side unknown is left out"
        );
        let page = FileList { files: vec![], next_cursor: Some("1_i".into()) };
        assert_eq!(to_string(&page).unwrap(), json!({"files": [], "nextCursor": "1_i"}).to_string());
        let swept = Swept { scanned: 2, removed: vec!["k".into()] };
        assert_eq!(to_string(&swept).unwrap(), json!({"scanned": 2, "removed": ["k"]}).to_string());
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let file = to_value(File::from(&row(Some(3), Some(4), None))).unwrap();
        conforms(&response_schema::<File>(), &file).unwrap();
        let mut other = file.clone();
        other["category"] = "music".into();
        assert!(conforms(&response_schema::<File>(), &other).is_err());
        let avatar = AvatarUploaded { success: true, avatar: AvatarFile::of(&row(None, None, None), "u".into()) };
        conforms(&response_schema::<AvatarUploaded>(), &to_value(avatar).unwrap()).unwrap();
    }
}
