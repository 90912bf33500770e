//! The checks an uploaded file passes while its bytes stream by, in the order that refuses it
//! as early as it can be known: the size limit and the room left in the quota at the byte that
//! crosses them, the content type at the file's first [`MAGIC_LEN`] bytes (before anything is
//! stored), text validity at the first bad byte, and the image's dimensions from its first
//! [`IMAGE_HEAD`] bytes at the end. Pure, so every refusal is unit-tested natively.

use super::sniff::{self, Kind, TextCheck, MAGIC_LEN};

/// How much of an image is kept for its dimensions (JPEG puts them after its metadata).
pub const IMAGE_HEAD: usize = 1 << 20;

#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// More bytes than the limit in force.
    TooLarge,
    /// More bytes than the account's quota has room for.
    OverQuota,
    /// Not a kind uploads take, or not the kind declared.
    Unsupported,
}

/// What a file turned out to be once all of it passed.
#[derive(Debug, PartialEq)]
pub struct Checked {
    pub kind: Kind,
    pub size: usize,
    pub dims: Option<(u32, u32)>,
}

pub struct FileIntake {
    declared: Option<String>,
    max: usize,
    room: u64,
    size: usize,
    /// The first bytes: [`MAGIC_LEN`] of them for every file, up to [`IMAGE_HEAD`] of an image.
    head: Vec<u8>,
    kind: Option<Kind>,
    text: TextCheck,
}

impl FileIntake {
    /// A file declared as `declared` (its part's Content-Type), at most `max` bytes, with `room`
    /// bytes left in the quota.
    pub fn new(declared: Option<String>, max: usize, room: u64) -> Self {
        FileIntake { declared, max, room, size: 0, head: Vec::new(), kind: None, text: TextCheck::default() }
    }

    /// The next bytes of the file.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        self.size += bytes.len();
        if self.size > self.max {
            return Err(Refusal::TooLarge);
        }
        if self.size as u64 > self.room {
            return Err(Refusal::OverQuota);
        }
        let mut rest = bytes;
        if self.kind.is_none() {
            let n = (MAGIC_LEN - self.head.len()).min(rest.len());
            self.head.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.head.len() < MAGIC_LEN {
                return Ok(());
            }
            self.settle()?;
        }
        if self.kind.is_some_and(Kind::is_image) {
            let n = IMAGE_HEAD.saturating_sub(self.head.len()).min(rest.len());
            self.head.extend_from_slice(&rest[..n]);
        }
        self.check_text(rest)
    }

    /// The file's kind, known from its first [`MAGIC_LEN`] bytes on (before the store sees a
    /// byte: it names the object's Content-Type).
    pub fn kind(&self) -> Option<Kind> {
        self.kind
    }

    /// Every byte has been fed.
    pub fn finish(mut self) -> Result<Checked, Refusal> {
        if self.kind.is_none() {
            self.settle()?;
        }
        let kind = self.kind.ok_or(Refusal::Unsupported)?;
        if kind.is_text() && !self.text.finish() {
            return Err(Refusal::Unsupported);
        }
        let dims = if kind.is_image() { sniff::dimensions(kind, &self.head) } else { None };
        Ok(Checked { kind, size: self.size, dims })
    }

    /// Settles the kind from the head; a text kind's head is its first text.
    fn settle(&mut self) -> Result<(), Refusal> {
        let kind = sniff::verify_head(self.declared.as_deref(), &self.head).ok_or(Refusal::Unsupported)?;
        self.kind = Some(kind);
        if kind.is_text() && !self.text.feed(&self.head) {
            return Err(Refusal::Unsupported);
        }
        Ok(())
    }

    fn check_text(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        match self.kind {
            Some(k) if k.is_text() && !self.text.feed(bytes) => Err(Refusal::Unsupported),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sniff::tests::png_bytes;

    fn run(declared: &str, data: &[u8], piece: usize, max: usize, room: u64) -> Result<Checked, Refusal> {
        let mut intake = FileIntake::new(Some(declared.into()), max, room);
        for p in data.chunks(piece.max(1)) {
            intake.feed(p)?;
        }
        intake.finish()
    }

    #[test]
    fn files_pass_whole_in_pieces_of_any_size() {
        let mut png = png_bytes(640, 480);
        png.resize(3000, 7);
        let text = "héllo €𝄞 ".repeat(40);
        for piece in [1, 2, 3, 15, 16, 17, 1000, 5000] {
            let ok = run("image/png", &png, piece, 1 << 20, u64::MAX).unwrap();
            assert_eq!(ok, Checked { kind: Kind::Png, size: 3000, dims: Some((640, 480)) }, "piece {piece}");
            let ok = run("text/plain", text.as_bytes(), piece, 1 << 20, u64::MAX).unwrap();
            assert_eq!((ok.kind, ok.size, ok.dims), (Kind::Text, text.len(), None));
            // Shorter than the magic bytes: judged at the end.
            assert_eq!(run("text/plain", b"hi", piece, 10, 10).unwrap().size, 2);
        }
    }

    #[test]
    fn refusals_come_at_the_byte_that_decides_them() {
        let mut intake = FileIntake::new(Some("image/png".into()), 100, u64::MAX);
        assert_eq!(intake.feed(b"<html><script>alert(1)"), Err(Refusal::Unsupported));
        // The kind is known after 16 bytes, before a store would be asked to hold any.
        let mut intake = FileIntake::new(Some("application/pdf".into()), 100, u64::MAX);
        intake.feed(b"%PDF-1.4").unwrap();
        assert_eq!(intake.kind(), None);
        intake.feed(b" 0123456789").unwrap();
        assert_eq!(intake.kind(), Some(Kind::Pdf));
        let mut pdf = b"%PDF-1.4".to_vec();
        pdf.resize(101, b' ');
        assert_eq!(run("application/pdf", &pdf, 7, 100, u64::MAX), Err(Refusal::TooLarge));
        assert_eq!(run("text/plain", &[b'a'; 60], 7, 100, 50), Err(Refusal::OverQuota));
        // A bad byte far in, a NUL, a character cut at the end, a PNG called text.
        let mut bad = vec![b'a'; 5000];
        bad[4000] = 0xff;
        assert_eq!(run("text/plain", &bad, 64, 1 << 20, u64::MAX), Err(Refusal::Unsupported));
        assert_eq!(run("text/plain", b"0123456789abcdef\0", 4, 100, 100), Err(Refusal::Unsupported));
        assert_eq!(run("text/plain", &[b'a', 0xe2, 0x82], 1, 100, 100), Err(Refusal::Unsupported));
        assert_eq!(run("text/plain", &png_bytes(1, 1), 3, 100, 100), Err(Refusal::Unsupported));
        assert_eq!(run("image/png", b"", 1, 100, 100), Err(Refusal::Unsupported));
    }

    #[test]
    fn only_an_images_head_is_kept() {
        let mut intake = FileIntake::new(Some("text/plain".into()), usize::MAX, u64::MAX);
        for _ in 0..100 {
            intake.feed(&[b'a'; 100_000]).unwrap();
        }
        assert_eq!(intake.head.len(), MAGIC_LEN);
        let mut intake = FileIntake::new(Some("image/png".into()), usize::MAX, u64::MAX);
        intake.feed(&png_bytes(1, 1)).unwrap();
        for _ in 0..100 {
            intake.feed(&[0; 100_000]).unwrap();
        }
        assert_eq!(intake.head.len(), IMAGE_HEAD);
    }
}
