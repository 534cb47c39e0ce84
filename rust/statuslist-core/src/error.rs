//! The one error type of the core. Every fallible operation on untrusted input returns one of these
//! variants instead of panicking; the Python binding maps each variant to one exception class.

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// `bits` is not one of 1, 2, 4, 8 (spec §4.1).
    #[error("bits must be 1, 2, 4 or 8, got {0}")]
    InvalidBits(i128),
    /// An index at or past the end of the list.
    #[error("index {index} is out of range for a list of {len} entries")]
    IndexOutOfRange { index: u64, len: u64 },
    /// A status value that does not fit in `bits` bits.
    #[error("status value {value} does not fit in {bits} bit(s) (maximum {max})")]
    ValueOutOfRange { value: u64, bits: u8, max: u8 },
    /// A configured bound (inflated size, entry count, allocation) would be exceeded.
    #[error("{what}: {actual} exceeds the limit of {limit}")]
    LimitExceeded {
        what: &'static str,
        actual: u64,
        limit: u64,
    },
    /// The compressed list is not a valid zlib stream (RFC 1950/1951).
    #[error("invalid zlib data: {0}")]
    Decompress(String),
    /// `lst` is not base64url without padding (RFC 7515 §2).
    #[error("invalid base64url in lst: {0}")]
    MalformedBase64(String),
    /// The JSON or CBOR `status_list` object is not shaped as spec §4.2/§4.3 require.
    #[error("malformed status_list object: {0}")]
    MalformedObject(String),
    /// A key that cannot be loaded or does not fit the algorithm.
    #[error("key error: {0}")]
    Key(String),
    /// A token whose signature does not verify.
    #[error("signature verification failed: {0}")]
    BadSignature(String),
    /// A token that is not shaped as spec §5 requires (or uses a forbidden algorithm/serialisation).
    #[error("malformed status list token: {0}")]
    MalformedToken(String),
    /// A token header marks critical (`crit`, RFC 7515 §4.1.11 / RFC 9052 §3.1) an extension
    /// this implementation does not understand, or `crit` itself is malformed.
    #[error("critical header extension refused: {0}")]
    CriticalExtension(String),
    /// Arguments that do not fit together (e.g. index and value arrays of different lengths).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
