//! How the embedded documents are packed. The OpenAPI document and the MCP tools derived from
//! it (576 KB of JSON) carry the same descriptions and schemas many times, further apart than
//! gzip's 32 KB window reaches. `build.rs` replaces every repeat of 48 bytes or more with a
//! reference to its first occurrence (`pack`, there); [`unpack`] restores the text once per
//! isolate. It saves ~18 KB of the gzipped wasm (bench/NOTES.md) and halves the data segment
//! every isolate initialises; the served bytes are the same (`build.rs` checks the round trip,
//! and so does a native test).
//!
//! Format: `ops` is a sequence of LEB128 triples `(literals, length, distance)`: copy the next
//! `literals` bytes of `lits`, then `length` bytes starting `distance` bytes back in the output.

/// Reads one LEB128 number at `*at`; `None` past the end or on overflow.
fn varint(ops: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    for shift in (0..usize::BITS).step_by(7) {
        let b = *ops.get(*at)?;
        *at += 1;
        n |= usize::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// The text `lits` and `ops` encode; `None` if they are not a valid encoding (total: a
/// reference outside the output or past the literals is refused, never a panic).
pub fn unpack(lits: &[u8], ops: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(lits.len() * 2);
    let (mut l, mut at) = (0usize, 0usize);
    while at < ops.len() {
        let n = varint(ops, &mut at)?;
        let len = varint(ops, &mut at)?;
        let dist = varint(ops, &mut at)?;
        out.extend_from_slice(lits.get(l..l.checked_add(n)?)?);
        l += n;
        if len > 0 {
            let from = out.len().checked_sub(dist)?;
            if dist < len {
                return None;
            }
            out.extend_from_within(from..from + len);
        }
    }
    (l == lits.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_literals_and_back_references() {
        // "abc", then 3 bytes from 3 back; "-", then 3 bytes from 4 back.
        let lits = b"abc-";
        let ops = [3, 3, 3, 1, 3, 4];
        assert_eq!(unpack(lits, &ops).as_deref(), Some(&b"abcabc-abc"[..]));
        assert_eq!(unpack(b"", &[]).as_deref(), Some(&b""[..]));
    }

    #[test]
    fn refuses_what_is_not_an_encoding() {
        for (lits, ops) in [
            (&b"ab"[..], &[3u8, 0, 0][..]), // more literals than there are
            (b"ab", &[2, 2, 3]),            // a reference before the start
            (b"ab", &[2, 2, 1]),            // an overlapping copy
            (b"abc", &[2, 0, 0]),           // literals left over
            (b"ab", &[2, 0x80]),            // a truncated number
            (
                b"ab",
                &[
                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
                ],
            ),
        ] {
            assert_eq!(unpack(lits, ops), None, "{ops:?}");
        }
    }
}
