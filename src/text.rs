//! A text buffer on the stack, for building an ID before its one allocation.

use arrayvec::ArrayString;

/// IDs up to this many bytes are built without touching the heap.
const INLINE: usize = 512;

/// Builds an ID's text on the stack, moving to the heap only past [`INLINE`] bytes.
// The inline variant is large on purpose: it lives on the stack for one ID's creation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum TextBuf {
    Inline(ArrayString<INLINE>),
    Heap(String),
}

impl TextBuf {
    pub(crate) fn new() -> Self {
        TextBuf::Inline(ArrayString::new())
    }

    #[inline]
    pub(crate) fn push_str(&mut self, s: &str) {
        match self {
            TextBuf::Inline(buf) => {
                if buf.try_push_str(s).is_err() {
                    let mut heap = String::with_capacity(buf.len() + s.len() + INLINE);
                    heap.push_str(buf);
                    heap.push_str(s);
                    *self = TextBuf::Heap(heap);
                }
            }
            TextBuf::Heap(heap) => heap.push_str(s),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, c: char) {
        let mut utf8 = [0; 4];
        self.push_str(c.encode_utf8(&mut utf8));
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            TextBuf::Inline(buf) => buf,
            TextBuf::Heap(heap) => heap,
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
        }
        assert!(matches!(buf, TextBuf::Heap(_)));
        let expected = format!("{chunk}:").repeat(10);
        assert_eq!(buf.as_str(), expected);
    }

    #[test]
    fn short_text_stays_inline() {
        let mut buf = TextBuf::new();
        buf.push_str("abc");
        buf.push('é');
        buf.push_str("xy");
        assert!(matches!(buf, TextBuf::Inline(_)));
        assert_eq!(buf.as_str(), "abcéxy");
    }
}
