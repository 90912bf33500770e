//! Session attachments (/v1/sessions/:id/attachments).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// POST .../request-upload: what the client is about to PUT.
#[derive(Deserialize, JsonSchema)]
pub struct UploadRequest {
    pub filename: String,
    /// Bytes; the PUT may send no more.
    pub size: i64,
}

/// How the bytes are sent.
#[derive(Serialize, JsonSchema)]
pub enum UploadMethod {
    #[serde(rename = "PUT")]
    Put,
}

/// Where to send an announced attachment, and the ref that names it in a message.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadTicket {
    #[serde(rename = "ref")]
    pub reference: String,
    pub upload_url: String,
    pub method: UploadMethod,
}

/// POST .../request-download.
#[derive(Deserialize, JsonSchema)]
pub struct DownloadRequest {
    #[serde(rename = "ref")]
    pub reference: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownloadTicket {
    pub download_url: String,
}

/// PUT .../:file: the bytes are stored.
#[derive(Serialize, JsonSchema)]
pub struct Stored {
    pub ok: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let ticket = UploadTicket { reference: "r".into(), upload_url: "u".into(), method: UploadMethod::Put };
        assert_eq!(to_string(&ticket).unwrap(), json!({"ref": "r", "uploadUrl": "u", "method": "PUT"}).to_string());
        let download = DownloadTicket { download_url: "d".into() };
        assert_eq!(to_string(&download).unwrap(), json!({"downloadUrl": "d"}).to_string());
        assert_eq!(to_string(&Stored { ok: true }).unwrap(), json!({"ok": true}).to_string());
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let ticket = UploadTicket { reference: "r".into(), upload_url: "u".into(), method: UploadMethod::Put };
        conforms(&response_schema::<UploadTicket>(), &to_value(ticket).unwrap()).unwrap();
        let post = json!({"ref": "r", "uploadUrl": "u", "method": "POST"});
        assert!(conforms(&response_schema::<UploadTicket>(), &post).is_err());
        conforms(&request_schema::<DownloadRequest>(), &json!({"ref": "sessions/s/attachments/f.enc"})).unwrap();
        assert!(conforms(&request_schema::<UploadRequest>(), &json!({"filename": "a"})).is_err());
    }
}
