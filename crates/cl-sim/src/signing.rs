//! Signed blob URLs that behave like presigned object-store URLs: a signature over the
//! object and an expiry, checked by the blob origin.

use sha2::{Digest, Sha256};

/// Signs and checks `(object, expires)` pairs with a secret only the simulator knows.
pub struct Signer {
    secret: [u8; 32],
}

impl Signer {
    /// A signer whose secret follows from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"cl-sim blob signing key");
        h.update(seed.to_le_bytes());
        Signer {
            secret: h.finalize().into(),
        }
    }

    /// The signature for `object` valid until the Unix time `expires`.
    pub fn sign(&self, object: &str, expires: i64) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(object.as_bytes());
        h.update(b"\n");
        h.update(expires.to_string().as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// True when `signature` was made by [`Signer::sign`] for these values.
    pub fn verify(&self, object: &str, expires: i64, signature: &str) -> bool {
        let want = self.sign(object, expires);
        // Length-independent comparison; this is a simulator, but it should look the part.
        want.len() == signature.len()
            && want
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}
