//! Rate limiting: the declared policy model (`Rate`), server header parsing (`parse_signal`)
//! and the pacer that turns both into send times (`Pacer`, reserved ahead as `Slot`s).

mod duration;
mod headers;
mod pacer;
mod pacer_bucket;
mod pacer_learn;
mod pacer_slots;
mod pacer_state;
mod pacer_window;
mod policy;
#[cfg(test)]
mod sim;
mod structured;

pub use duration::parse_go_duration;
pub use headers::{parse_signal, Signal, MAX_WAIT};
pub use pacer::{default_margin, Mode, Pacer, EVEN_MODE_MAX_WINDOW};
pub use pacer_learn::LEARNED_TTL_WINDOWS;
pub use pacer_slots::Slot;
pub use pacer_state::{PacerState, StoredRate};
pub use policy::{Rate, RateError};
