//! Writes one R2 object from bytes that arrive in pieces, in bounded memory: the bytes gather in
//! one buffer of at most [`PART_SIZE`] held by the runtime (not by wasm, whose memory never
//! shrinks once grown); an object that fits is one `put`, a larger one a multipart upload of
//! full parts, each sent as its buffer fills. Nothing is visible in the bucket before
//! [`finish`](ObjectWriter::finish); [`abort`](ObjectWriter::abort) leaves nothing behind, and
//! an upload never finished nor aborted (the invocation killed) is removed by the bucket's
//! lifecycle rule for incomplete multipart uploads (seven days by default).

use wasm_bindgen::prelude::*;
use worker::js_sys::{self, Array, Object, Reflect, Uint8Array};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::error::{ApiError, ApiResult};

/// The size of every multipart part but the last, and so the memory one upload holds. R2 takes
/// parts of 5 MiB and more, all of one size but the last.
pub const PART_SIZE: usize = 8 * super::MB;
/// The buffer's smallest first size; it doubles up to [`PART_SIZE`], so a small file holds
/// little.
const FIRST_BUFFER: usize = 64 * 1024;

#[wasm_bindgen]
extern "C" {
    /// The R2 binding, for byte views (workers-rs takes owned bytes, copied into wasm first).
    type R2Bucket;
    #[wasm_bindgen(method, catch)]
    fn put(this: &R2Bucket, key: &str, value: &Uint8Array, options: &JsValue) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = createMultipartUpload)]
    fn create_multipart_upload(this: &R2Bucket, key: &str, options: &JsValue) -> Result<js_sys::Promise, JsValue>;

    type R2MultipartUpload;
    #[wasm_bindgen(method, catch, js_name = uploadPart)]
    fn upload_part(this: &R2MultipartUpload, number: u32, value: &Uint8Array) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn complete(this: &R2MultipartUpload, parts: &Array) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn abort(this: &R2MultipartUpload) -> Result<js_sys::Promise, JsValue>;
}

fn failed(what: &'static str) -> impl Fn(JsValue) -> ApiError {
    move |e| ApiError::internal(format!("R2 {what} failed: {e:?}"))
}

async fn call(what: &'static str, promise: Result<js_sys::Promise, JsValue>) -> ApiResult<JsValue> {
    JsFuture::from(promise.map_err(failed(what))?).await.map_err(failed(what))
}

/// Aborts a multipart upload; a failure is logged (the lifecycle rule removes its parts).
async fn abort(key: &str, upload: &R2MultipartUpload) {
    if let Err(e) = call("abort", upload.abort()).await {
        worker::console_error!("multipart upload of {key} not aborted: {e}");
    }
}

pub struct ObjectWriter {
    bucket: R2Bucket,
    key: String,
    content_type: &'static str,
    buffer: Uint8Array,
    filled: usize,
    /// The multipart upload once a part was sent, with the parts sent so far.
    upload: Option<(R2MultipartUpload, Array)>,
}

impl ObjectWriter {
    /// A writer of an object named later ([`name`](Self::name)), once what it holds is known.
    /// `expected` (the body's length, when declared) sizes the buffer at once, so a file of
    /// one part never leaves the smaller buffers it outgrew behind as garbage.
    pub fn new(env: &Env, expected: Option<usize>) -> ApiResult<Self> {
        let bucket = Reflect::get(env, &super::BUCKET.into()).map_err(failed("binding"))?.unchecked_into();
        Ok(ObjectWriter {
            bucket,
            key: String::new(),
            content_type: "application/octet-stream",
            buffer: Uint8Array::new_with_length(expected.unwrap_or(0).clamp(FIRST_BUFFER, PART_SIZE) as u32),
            filled: 0,
            upload: None,
        })
    }

    /// Names the object and its Content-Type. Once a part went out the name stays (R2 cannot
    /// rename an upload), so a later call changes nothing.
    pub fn name(&mut self, key: String, content_type: &'static str) {
        if self.upload.is_none() {
            self.key = key;
            self.content_type = content_type;
        }
    }

    /// The object's key, as named when its first part went out or last named.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub async fn write(&mut self, mut bytes: &[u8]) -> ApiResult<()> {
        while !bytes.is_empty() {
            let n = (PART_SIZE - self.filled).min(bytes.len());
            self.reserve(self.filled + n);
            self.buffer.subarray(self.filled as u32, (self.filled + n) as u32).copy_from(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == PART_SIZE {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// Stores the object; answers its quoted ETag. A multipart upload that fails to complete
    /// is aborted, so nothing is left behind either way.
    pub async fn finish(mut self) -> ApiResult<String> {
        self.named()?;
        let object = match self.upload.take() {
            None => {
                let data = self.buffer.subarray(0, self.filled as u32);
                call("put", self.bucket.put(&self.key, &data, &self.options()?)).await?
            }
            Some((upload, parts)) => {
                let completed = async {
                    if self.filled > 0 {
                        let last = self.buffer.subarray(0, self.filled as u32);
                        parts.push(&call("uploadPart", upload.upload_part(parts.length() + 1, &last)).await?);
                    }
                    call("complete", upload.complete(&parts)).await
                }
                .await;
                match completed {
                    Ok(object) => object,
                    Err(e) => {
                        abort(&self.key, &upload).await;
                        return Err(e);
                    }
                }
            }
        };
        Reflect::get(&object, &"httpEtag".into())
            .ok()
            .and_then(|e| e.as_string())
            .ok_or_else(|| ApiError::internal("R2 returned no object"))
    }

    /// Drops the parts sent so far.
    pub async fn abort(self) {
        if let Some((upload, _)) = &self.upload {
            abort(&self.key, upload).await;
        }
    }

    async fn send_part(&mut self) -> ApiResult<()> {
        if self.upload.is_none() {
            self.named()?;
            let upload =
                call("createMultipartUpload", self.bucket.create_multipart_upload(&self.key, &self.options()?))
                    .await?
                    .unchecked_into();
            self.upload = Some((upload, Array::new()));
        }
        let Some((upload, parts)) = &self.upload else { return Ok(()) };
        // The buffer is reused once R2 has the part: the promise settles after the bytes are sent.
        parts.push(&call("uploadPart", upload.upload_part(parts.length() + 1, &self.buffer)).await?);
        self.filled = 0;
        Ok(())
    }

    /// Grows the buffer (doubling, up to a part) to hold `len` bytes.
    fn reserve(&mut self, len: usize) {
        let capacity = self.buffer.length() as usize;
        if len <= capacity {
            return;
        }
        let grown = Uint8Array::new_with_length(len.max(capacity * 2).clamp(FIRST_BUFFER, PART_SIZE) as u32);
        grown.set(&self.buffer.subarray(0, self.filled as u32), 0);
        self.buffer = grown;
    }

    fn named(&self) -> ApiResult<()> {
        if self.key.is_empty() {
            return Err(ApiError::internal("an upload was stored before it was named"));
        }
        Ok(())
    }

    fn options(&self) -> ApiResult<JsValue> {
        let meta = Object::new();
        Reflect::set(&meta, &"contentType".into(), &self.content_type.into()).map_err(failed("options"))?;
        let options = Object::new();
        Reflect::set(&options, &"httpMetadata".into(), &meta).map_err(failed("options"))?;
        Ok(options.into())
    }
}
