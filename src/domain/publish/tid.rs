//! Bluesky record keys for posts: `app.bsky.feed.post` records are keyed by a TID (timestamp
//! identifier), 13 characters of base32-sortable text encoding 64 bits: a zero top bit, 53
//! bits of microseconds since the Unix epoch, 10 bits of clock id.
//!
//! The publisher derives a target's key from the target itself (its id and creation time), so
//! every attempt to publish one target writes the same record key: a repeat finds the record
//! already there (`getRecord`) instead of posting twice. The microseconds are the second of
//! the target's creation plus 0 to 999,999 µs taken from a hash of its id, and the clock id is
//! 10 more bits of that hash: two targets of one account created in the same second get the
//! same key with a chance of about 1 in 10^9.

use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
pub const LEN: usize = 13;

/// The TID of `micros` since the epoch and a clock id (its low 10 bits).
pub fn encode(micros: u64, clock_id: u16) -> String {
    let value = ((micros & ((1 << 53) - 1)) << 10) | u64::from(clock_id & 0x3FF);
    (0..LEN)
        .rev()
        .map(|i| ALPHABET[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// The record key of a target: see the module doc.
pub fn derive(target_id: &str, created_at_ms: i64) -> String {
    let h = Sha256::digest(target_id.as_bytes());
    let spread = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % 1_000_000);
    let clock = u16::from_be_bytes([h[4], h[5]]);
    let second = created_at_ms.max(0) as u64 / 1000;
    let micros = second.saturating_mul(1_000_000) + spread;
    encode(micros, clock)
}

/// Whether `s` is a TID as the AT Protocol defines it: 13 characters of the alphabet, the
/// first one of `234567abcdefghij` (the top bit is zero).
pub fn is_valid(s: &str) -> bool {
    s.len() == LEN
        && s.bytes().all(|b| ALPHABET.contains(&b))
        && s.as_bytes()
            .first()
            .is_some_and(|b| b"234567abcdefghij".contains(b))
}

/// The microseconds a TID holds (for tests and logs).
pub fn micros(s: &str) -> Option<u64> {
    if !is_valid(s) {
        return None;
    }
    let value = s.bytes().try_fold(0u64, |acc, b| {
        let digit = ALPHABET.iter().position(|&a| a == b)? as u64;
        Some((acc << 5) | digit)
    })?;
    Some(value >> 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_reference_implementation() {
        // (micros << 10 | clock) in base32-sortable, 13 characters.
        for (micros, clock, want) in [
            (0, 0, "2222222222222"),
            (0, 1, "2222222222223"),
            (1, 0, "2222222222322"),
            (1_767_225_600_000_000, 0, "3mbd3542k2222"),
            ((1 << 53) - 1, 1023, "bzzzzzzzzzzzz"),
        ] {
            assert_eq!(encode(micros, clock), want, "{micros} {clock}");
            assert!(is_valid(want));
        }
    }

    #[test]
    fn a_target_always_gets_the_same_valid_key_and_others_get_others() {
        let created = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        let a = derive("tgt_0123456789abcdefAAAAAAAAAAAAAAAA", created);
        assert_eq!(a, derive("tgt_0123456789abcdefAAAAAAAAAAAAAAAA", created));
        assert!(is_valid(&a), "{a}");
        let m = micros(&a).unwrap();
        assert!((created as u64 * 1000..created as u64 * 1000 + 1_000_000).contains(&m));
        let mut keys: Vec<String> = (0..2_000)
            .map(|i| derive(&format!("tgt_0123456789abcdef{i:016}"), created))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 2_000, "keys of one second collide");
        // Later targets sort after earlier ones (TIDs are time-ordered).
        assert!(derive("tgt_x", created + 1_000) > derive("tgt_y", created - 1));
    }

    #[test]
    fn only_tids_are_valid() {
        for bad in [
            "",
            "222222222222",
            "22222222222222",
            "k222222222222",
            "222222222222A",
            "22222222222-2",
        ] {
            assert!(!is_valid(bad), "{bad}");
            assert_eq!(micros(bad), None);
        }
    }
}
