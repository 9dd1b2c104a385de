//! Content digests: `sha256:` and 64 lowercase hex digits (OCI image-spec, descriptor.md,
//! "Digests"; sha256 is the algorithm every implementation must support, and the only one
//! this crate writes or accepts).

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

use crate::Error;

/// A sha256 content digest, as descriptors and blob paths name it.
///
/// ```
/// let d = moat_oci::Digest::sha256(b"{}");
/// assert_eq!(
///     d.to_string(),
///     "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
/// );
/// assert_eq!(d.to_string().parse::<moat_oci::Digest>().unwrap(), d);
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    /// 64 lowercase hex digits.
    hex: String,
}

/// The only algorithm: `sha256`.
pub const ALGORITHM: &str = "sha256";

impl Digest {
    /// The sha256 digest of `bytes`.
    #[must_use]
    pub fn sha256(bytes: &[u8]) -> Digest {
        let sum = sha2::Sha256::digest(bytes);
        let mut hex = String::with_capacity(64);
        for b in sum.iter() {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Digest { hex }
    }

    /// The 64 hex digits (the blob's file name under `blobs/sha256/`).
    #[must_use]
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The algorithm, `sha256`.
    #[must_use]
    pub fn algorithm(&self) -> &'static str {
        ALGORITHM
    }

    /// The blob's path inside a layout: `blobs/sha256/HEX`.
    #[must_use]
    pub fn blob_path(&self) -> String {
        format!("blobs/{ALGORITHM}/{}", self.hex)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ALGORITHM}:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(text: &str) -> Result<Digest, Error> {
        let bad = |reason: &'static str| Error::Digest {
            text: moat_io::excerpt(text, moat_io::EXCERPT_CHARS).into_owned(),
            reason,
        };
        let Some((algorithm, hex)) = text.split_once(':') else {
            return Err(bad("expected ALGORITHM:HEX, e.g. sha256:44136f…"));
        };
        if algorithm != ALGORITHM {
            return Err(bad("only sha256 digests are supported"));
        }
        Digest::from_hex(hex).ok_or_else(|| bad("sha256 takes 64 lowercase hex digits"))
    }
}

impl Digest {
    /// The digest whose hex digits are `hex` (64 lowercase hex digits), as a blob's file name
    /// carries them; `None` for anything else.
    #[must_use]
    pub fn from_hex(hex: &str) -> Option<Digest> {
        (hex.len() == 64 && hex.bytes().all(|b| HEX.contains(&b))).then(|| Digest {
            hex: hex.to_string(),
        })
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn known_sha256_values() {
        // FIPS 180-2 appendix B.1 ("abc") and the empty string.
        assert_eq!(
            Digest::sha256(b"abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            Digest::sha256(b"").hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parsing_refuses_other_algorithms_and_bad_hex() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(good.parse::<Digest>().is_ok());
        for bad in [
            "sha256",
            "sha512:abcd",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}", "a".repeat(63)),
            &format!("sha256:{}g", "a".repeat(63)),
            &format!("sha256:../{}", "a".repeat(61)),
        ] {
            let e = bad.parse::<Digest>().unwrap_err();
            assert!(matches!(e, Error::Digest { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn a_long_bad_digest_is_quoted_short() {
        let text = "x".repeat(10_000);
        let msg = text.parse::<Digest>().unwrap_err().to_string();
        assert!(msg.len() < 300, "{msg}");
    }

    #[test]
    fn serde_round_trip() {
        let d = Digest::sha256(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"md5:00\"").is_err());
    }
}
