//! The `NameHash` used in label values and selectors.
//!
//! Upstream renders FNV-1a (32-bit) over the UTF-8 bytes of an object name as eight lowercase,
//! zero-padded hex digits. Label selectors written by a Go controller must keep matching the ones
//! we write, so this has to be bit-exact.

use std::fmt;

/// FNV-1a 32-bit offset basis.
const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
/// FNV-1a 32-bit prime.
const FNV_PRIME: u32 = 0x0100_0193;
/// Lowercase hex alphabet; indexing it keeps the rendering branch-free and allocation-free.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The raw FNV-1a 32-bit hash of `name`'s UTF-8 bytes.
#[must_use]
pub fn name_hash_u32(name: &str) -> u32 {
    name.bytes().fold(FNV_OFFSET_BASIS, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// A rendered name hash held inline (8 ASCII bytes), so hot paths can compare label values
/// against it without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NameHash([u8; 8]);

impl NameHash {
    /// Hashes `name` and renders it as 8 lowercase hex digits.
    #[must_use]
    pub fn of(name: &str) -> Self {
        let hash = name_hash_u32(name);
        let mut digits = [0u8; 8];
        for (i, digit) in digits.iter_mut().enumerate() {
            // Most significant nibble first, which also gives the zero padding.
            let shift = 28 - 4 * i;
            *digit = HEX_DIGITS[((hash >> shift) & 0xf) as usize];
        }
        Self(digits)
    }

    /// The 8 hex digits as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Every byte comes from HEX_DIGITS, so the buffer is always valid ASCII and this
        // fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for NameHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NameHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NameHash").field(&self.as_str()).finish()
    }
}

impl AsRef<str> for NameHash {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for NameHash {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for NameHash {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// `NameHash(name)` as upstream renders it: FNV-1a 32-bit, 8 lowercase zero-padded hex digits.
///
/// Used for the `agents.x-k8s.io/sandbox-name-hash`, `warm-pool-sandbox` and
/// `sandbox-template-ref-hash` label values. Allocates exactly one 8-byte `String`; use
/// [`NameHash::of`] to avoid even that.
#[must_use]
pub fn name_hash(name: &str) -> String {
    NameHash::of(name).as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from the upstream spec (§2.5); they pin bit-exactness with the Go controller.
    const UPSTREAM_VECTORS: &[(&str, &str)] = &[
        ("sandbox", "da1fd924"),
        ("test-template", "69155462"),
        ("my-warm-pool", "034dafb4"),
        ("test-pool", "59733166"),
        ("", "811c9dc5"),
    ];

    #[test]
    fn matches_upstream_vectors() {
        for (name, expected) in UPSTREAM_VECTORS {
            assert_eq!(name_hash(name), *expected, "name_hash({name:?})");
            assert_eq!(NameHash::of(name), *expected, "NameHash::of({name:?})");
        }
    }

    #[test]
    fn leading_zero_nibble_is_padded() {
        // "my-warm-pool" hashes to 0x034dafb4: the leading zero must survive rendering.
        assert_eq!(name_hash_u32("my-warm-pool"), 0x034d_afb4);
        assert_eq!(name_hash("my-warm-pool").len(), 8);
        assert!(name_hash("my-warm-pool").starts_with('0'));
    }

    #[test]
    fn hashes_utf8_bytes_not_chars() {
        // "é" is two UTF-8 bytes (0xc3 0xa9); hashing must fold both of them.
        let by_hand = [0xc3u8, 0xa9].iter().fold(FNV_OFFSET_BASIS, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(FNV_PRIME)
        });
        assert_eq!(name_hash_u32("é"), by_hand);
        assert_ne!(name_hash_u32("é"), name_hash_u32("e"));
    }

    #[test]
    fn display_and_debug_render_the_digits() {
        let hash = NameHash::of("sandbox");
        assert_eq!(hash.to_string(), "da1fd924");
        assert_eq!(format!("{hash:?}"), "NameHash(\"da1fd924\")");
        assert_eq!(hash.as_ref(), "da1fd924");
    }
}
