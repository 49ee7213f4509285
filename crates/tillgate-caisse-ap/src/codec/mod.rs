//! The Caisse-AP codec: [`fields`] (tag, length, value; `CZ` first; each tag once) and [`message`]
//! (typed requests and answers, and the check that an answer belongs to its request).
pub mod fields;
pub mod message;

pub use fields::{progress, trim_crlf, DecodeError, EncodeError, Fields, Progress, Tag};
pub use message::{
    amount_field, check_answer, detail_meaning, Action, Answer, MessageError, Mismatch, Request,
    Status,
};
