//! `statuslist-core`: the IETF Token Status List (draft-ietf-oauth-status-list-20) in pure Rust.
//!
//! - [`list`]: the bit-packed list of spec §4.1 with incremental, parallel zlib encoding;
//! - [`deflate`] and [`zlib`]: the DEFLATE encoder and zlib container behind it;
//! - [`envelope`]: the one parser of token envelopes (JWS, `COSE_Sign1`), headers and claims;
//! - [`object`]: the JSON (§4.2) and CBOR (§4.3) `status_list` objects;
//! - [`permutation`]: the keyed index permutation behind allocation;
//! - [`error`]: the single error type.
#![forbid(unsafe_code)]

mod deflate;
pub mod envelope;
pub mod error;
pub mod list;
pub mod object;
mod parse;
pub mod permutation;
pub mod token;
pub mod zlib;

pub use error::{Error, Result};
pub use list::{StatusList, CHUNK_BYTES, DICT_BYTES, MAX_ENTRIES};
pub use object::{b64url_decode, b64url_encode, StatusListObject};

/// Default cap on inflated bytes when decoding untrusted lists (16 MiB).
pub const DEFAULT_MAX_BYTES: usize = 16 << 20;
