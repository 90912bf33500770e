//! Where an upload's bytes are read from: a slice (tests, fuzzing) or the request body left in
//! the runtime's buffer, read a window at a time so that only what is inspected enters wasm.

use std::borrow::Cow;
use std::ops::Range;

/// The bytes of a body.
pub trait Source {
    fn len(&self) -> usize;
    /// The bytes of `start..end`, clamped to the body.
    fn read(&self, start: usize, end: usize) -> Cow<'_, [u8]>;
    /// How many bytes a scan reads at once.
    fn window(&self) -> usize {
        1 << 20
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Source for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn read(&self, start: usize, end: usize) -> Cow<'_, [u8]> {
        let end = end.min(<[u8]>::len(self));
        Cow::Borrowed(&self[start.min(end)..end])
    }
}

/// A range of a source (a multipart part's data), itself a source.
pub struct Sub<'a, S: ?Sized> {
    pub source: &'a S,
    pub range: Range<usize>,
}

impl<S: Source + ?Sized> Source for Sub<'_, S> {
    fn len(&self) -> usize {
        self.range.len()
    }
    fn read(&self, start: usize, end: usize) -> Cow<'_, [u8]> {
        let at = |i: usize| self.range.start + i.min(self.range.len());
        self.source.read(at(start), at(end))
    }
    fn window(&self) -> usize {
        self.source.window()
    }
}

/// A slice read `window` bytes at a time, as a body left in JS is.
#[cfg(test)]
pub struct Windowed<'a>(pub &'a [u8], pub usize);

#[cfg(test)]
impl Source for Windowed<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn read(&self, start: usize, end: usize) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.read(start, end).into_owned())
    }
    fn window(&self) -> usize {
        self.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_clamped_and_sub_ranges_offset() {
        let body = &b"0123456789"[..];
        assert_eq!(&*body.read(8, 20), b"89");
        assert_eq!(&*body.read(12, 20), b"");
        assert_eq!(&*body.read(5, 2), b"");
        let sub = Sub { source: body, range: 2..6 };
        assert_eq!(sub.len(), 4);
        assert_eq!(&*sub.read(1, 100), b"345");
        assert_eq!(&*sub.read(9, 100), b"");
    }
}
