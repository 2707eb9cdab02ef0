//! Rate limiting: the declared policy model (`Rate`), server header parsing and the pacer.

mod duration;
mod headers;
mod policy;
mod structured;

pub use duration::parse_go_duration;
pub use headers::{parse_signal, Signal, MAX_WAIT};
pub use policy::{Rate, RateError};
