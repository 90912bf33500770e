//! A request body read as it arrives, in bounded memory: a "bring your own buffer" reader fills
//! one 64 KiB runtime buffer again and again (a default reader would allocate a new buffer per
//! network chunk, garbage that piles up in the isolate until a collection), and each chunk is
//! copied into one reused wasm buffer for the parser. Uploads of any size hold these two.

use wasm_bindgen::prelude::*;
use worker::js_sys::{self, Reflect, Uint8Array};
use worker::wasm_bindgen_futures::JsFuture;

use super::ctx::{body_too_large, unreadable};
use crate::error::ApiResult;

/// The most one read takes from the network.
const CHUNK: u32 = 64 * 1024;

#[wasm_bindgen]
extern "C" {
    type ByteSource;
    #[wasm_bindgen(method, catch, js_name = getReader)]
    fn get_reader(this: &ByteSource, options: &JsValue) -> Result<ByobReader, JsValue>;

    type ByobReader;
    #[wasm_bindgen(method, catch)]
    fn read(this: &ByobReader, view: &Uint8Array) -> Result<js_sys::Promise, JsValue>;
}

pub struct BodyStream {
    reader: Option<ByobReader>,
    /// The runtime buffer the next read fills (each read hands it back, moved).
    buffer: Uint8Array,
    chunk: Vec<u8>,
    read: usize,
    limit: usize,
}

impl BodyStream {
    /// Reads `body` (the request's stream, if it has one), refusing more than `limit` bytes.
    pub fn new(body: Option<worker::web_sys::ReadableStream>, limit: usize) -> ApiResult<Self> {
        let reader = match body {
            None => None,
            Some(stream) => {
                let options = js_sys::Object::new();
                Reflect::set(&options, &"mode".into(), &"byob".into()).map_err(|_| unreadable())?;
                Some(stream.unchecked_into::<ByteSource>().get_reader(&options).map_err(|_| unreadable())?)
            }
        };
        Ok(BodyStream { reader, buffer: Uint8Array::new_with_length(CHUNK), chunk: Vec::new(), read: 0, limit })
    }

    /// The next chunk; `None` at the end. A client that stops sending mid-body is a 400, more
    /// than the limit a 413.
    pub async fn next(&mut self) -> ApiResult<Option<&[u8]>> {
        let Some(view) = self.read().await? else { return Ok(None) };
        self.chunk.resize(view.length() as usize, 0);
        view.copy_to(&mut self.chunk);
        Ok(Some(&self.chunk))
    }

    /// Reads what is left of the body (up to the limit) without looking at it. A refusal that
    /// comes before the body ended answers after this: clients that send their whole body
    /// before reading the answer (most HTTP/1.1 clients) then read it, instead of a broken
    /// connection.
    pub async fn discard_rest(&mut self) {
        while let Ok(Some(_)) = self.read().await {}
        self.reader = None;
    }

    async fn read(&mut self) -> ApiResult<Option<Uint8Array>> {
        let Some(reader) = &self.reader else { return Ok(None) };
        let result =
            JsFuture::from(reader.read(&self.buffer).map_err(|_| unreadable())?).await.map_err(|_| unreadable())?;
        let done = Reflect::get(&result, &"done".into()).map_err(|_| unreadable())?.is_truthy();
        let value = Reflect::get(&result, &"value".into()).map_err(|_| unreadable())?;
        if done || value.is_undefined() {
            self.reader = None;
            return Ok(None);
        }
        let view: Uint8Array = value.unchecked_into();
        self.read += view.length() as usize;
        if self.read > self.limit {
            return Err(body_too_large(self.limit));
        }
        // The read moved the buffer into `view`; the next read fills it again, whole.
        self.buffer = Uint8Array::new(&view.buffer());
        Ok(Some(view))
    }
}
