//! A text buffer on the stack, for building an ID before its one allocation.

/// IDs up to this many bytes are built without touching the heap: roots with short
/// prefixes, and children a few levels down. (Small enough to be zeroed with a few stores.)
const INLINE: usize = 128;

/// Builds an ID's text on the stack, moving to the heap only past [`INLINE`] bytes.
///
/// Every piece pushed is UTF-8 on its own (a `str`, a `char`, ASCII bytes), so the whole is
/// too; it is checked once, when read.
pub(crate) struct TextBuf {
    inline: [u8; INLINE],
    len: usize,
    /// Everything, once the text outgrew `inline`.
    heap: Option<Vec<u8>>,
}

impl TextBuf {
    #[inline]
    pub(crate) fn new() -> Self {
        TextBuf {
            inline: [0; INLINE],
            len: 0,
            heap: None,
        }
    }

    /// Appends `n` bytes that `fill` writes; they must be ASCII.
    #[inline]
    pub(crate) fn push_ascii_with(&mut self, n: usize, fill: impl FnOnce(&mut [u8])) {
        let end = self.len + n;
        if self.heap.is_none() && end <= INLINE {
            fill(&mut self.inline[self.len..end]);
            self.len = end;
            return;
        }
        let heap = self.spill(n);
        let start = heap.len();
        heap.resize(start + n, 0);
        fill(&mut heap[start..]);
    }

    #[inline]
    pub(crate) fn push_str(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let end = self.len + bytes.len();
        if self.heap.is_none() && end <= INLINE {
            self.inline[self.len..end].copy_from_slice(bytes);
            self.len = end;
            return;
        }
        self.spill(bytes.len()).extend_from_slice(bytes);
    }

    #[inline]
    pub(crate) fn push(&mut self, c: char) {
        let mut utf8 = [0; 4];
        self.push_str(c.encode_utf8(&mut utf8));
    }

    /// The heap buffer, made from the inline bytes the first time, with room for `more`.
    #[cold]
    fn spill(&mut self, more: usize) -> &mut Vec<u8> {
        let inline = &self.inline[..self.len];
        self.heap.get_or_insert_with(|| {
            let mut heap = Vec::with_capacity(inline.len() + more + INLINE);
            heap.extend_from_slice(inline);
            heap
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        let (bytes, len) = match &self.heap {
            Some(heap) => (&heap[..], heap.len()),
            // Checked in whole 16-byte blocks, the zero padding after the text included: the
            // fast path of `from_utf8`, where a short text would take it byte by byte.
            None => (
                &self.inline[..self.len.next_multiple_of(16).min(INLINE)],
                self.len,
            ),
        };
        match std::str::from_utf8(bytes) {
            Ok(text) => &text[..len],
            Err(_) => unreachable!("every piece pushed is UTF-8"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_to_the_heap_keeping_every_byte() {
        let mut buf = TextBuf::new();
        let chunk = "αβγδ".repeat(20);
        for _ in 0..10 {
            buf.push_str(&chunk);
            buf.push(':');
            buf.push_ascii_with(2, |out| out.copy_from_slice(b"ab"));
        }
        assert!(buf.heap.is_some());
        let expected = format!("{chunk}:ab").repeat(10);
        assert_eq!(buf.as_str(), expected);
    }

    #[test]
    fn short_text_stays_inline() {
        let mut buf = TextBuf::new();
        buf.push_str("abc");
        buf.push('é');
        buf.push_ascii_with(2, |out| out.copy_from_slice(b"xy"));
        assert!(buf.heap.is_none());
        assert_eq!(buf.as_str(), "abcéxy");
    }

    #[test]
    fn the_inline_buffer_fills_to_the_last_byte() {
        let mut buf = TextBuf::new();
        buf.push_str(&"a".repeat(INLINE - 1));
        buf.push_ascii_with(1, |out| out[0] = b'z');
        assert!(buf.heap.is_none());
        buf.push('β');
        assert!(buf.heap.is_some());
        assert_eq!(buf.as_str().len(), INLINE + 2);
        assert!(buf.as_str().ends_with("zβ"));
    }
}
