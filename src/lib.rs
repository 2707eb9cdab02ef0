pub mod ledger;
pub mod ratelimit;
