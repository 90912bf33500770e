//! An upload's body left in the runtime's buffer: wasm reads windows of it (multipart
//! structure, short fields, the file's first bytes) and R2 stores a view of it, so the file
//! is never copied into wasm memory, which would keep the grown size for the isolate's life.

use std::borrow::Cow;

use wasm_bindgen::prelude::*;
use worker::js_sys::{self, Object, Reflect, Uint8Array};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

use super::source::Source;
use crate::error::{ApiError, ApiResult};

pub struct JsBody(pub Uint8Array);

impl Source for JsBody {
    fn len(&self) -> usize {
        self.0.length() as usize
    }
    fn read(&self, start: usize, end: usize) -> Cow<'_, [u8]> {
        let end = end.min(self.len());
        Cow::Owned(self.0.subarray(start.min(end) as u32, end as u32).to_vec())
    }
}

#[wasm_bindgen]
extern "C" {
    /// An R2 binding, for `put` with a byte view (workers-rs takes only owned bytes or streams).
    type R2Bucket;
    #[wasm_bindgen(method, catch)]
    fn put(this: &R2Bucket, key: &str, value: &Uint8Array, options: &JsValue) -> Result<js_sys::Promise, JsValue>;
}

/// Stores `range` of `body` at `key` in the uploads bucket; returns the object's quoted ETag.
pub async fn put_range(
    env: &Env,
    key: &str,
    body: &JsBody,
    range: std::ops::Range<usize>,
    content_type: &str,
) -> ApiResult<String> {
    let failed = |e: JsValue| ApiError::internal(format!("R2 put failed: {e:?}"));
    let bucket: R2Bucket = Reflect::get(env, &super::BUCKET.into()).map_err(failed)?.unchecked_into();
    let meta = Object::new();
    Reflect::set(&meta, &"contentType".into(), &content_type.into()).map_err(failed)?;
    let options = Object::new();
    Reflect::set(&options, &"httpMetadata".into(), &meta).map_err(failed)?;
    let view = body.0.subarray(range.start as u32, range.end as u32);
    let object = JsFuture::from(bucket.put(key, &view, &options).map_err(failed)?).await.map_err(failed)?;
    Reflect::get(&object, &"httpEtag".into())
        .ok()
        .and_then(|e| e.as_string())
        .ok_or_else(|| ApiError::internal("R2 put returned no object"))
}
