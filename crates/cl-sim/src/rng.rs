//! A tiny deterministic generator: the same seed gives the same data on every machine and
//! every version, which a general-purpose RNG crate does not promise.

/// SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` mixed with the bytes of `salt`.
    pub fn new(seed: u64, salt: &[u8]) -> Self {
        let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
        for &b in salt {
            state = (state ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
        let mut rng = Rng(state);
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `len` characters of lower-case base32 (`a-z`, `2-7`).
    pub fn base32(&mut self, len: usize) -> String {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        (0..len)
            .map(|_| ALPHABET[self.below(32) as usize] as char)
            .collect()
    }

    /// A version-4-shaped UUID.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_values_across_versions() {
        let mut a = Rng::new(7, b"x");
        let mut b = Rng::new(7, b"x");
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(Rng::new(7, b"y").next_u64(), Rng::new(7, b"x").next_u64());
        // Pinned: changing the generator changes every dataset users and tests rely on.
        assert_eq!(Rng::new(1, b"").base32(8), "jsotfee4");
    }
}
