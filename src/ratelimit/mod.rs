//! Rate limiting: the declared policy model (`Rate`), server header parsing and the pacer.

mod policy;

pub use policy::{Rate, RateError};
