//! A limit without a window whose `remaining` comes back one request at a time (a token bucket:
//! `X-RateLimit-Limit: 4`, remaining, reset to the next token): its refill rate measured from
//! the answers, and sends placed where the bucket has a token for them (virtual scheduling),
//! within the declared rate.
//!
//! Read as a window (`pacer_window`), a bucket of 4 refilling one per 500 ms was paced 4 per
//! 2.2 s, bursts and all: 0.85 of its pace. A bucket admits a burst of L and then one request
//! per refill, which no sliding window of L allows.
//!
//! **Proof of a bucket.** After an answer that found the quota full (an accepted request that
//! leaves L − 1), a fixed window gives quota back only all at once, at its reset (the next
//! answer leaves L − 1 again), and a sliding log of L per W gives back the first request's
//! place no sooner than W after it. Quota given back without the count reaching full, less than
//! three quarters of the declared window after that full answer, is neither, unless the window
//! is shorter than the declared one, which the limit read against the declared window already
//! covers (this model only ever adds a constraint).
//!
//! **The rate.** Each answer says how many tokens were left, cut to a whole number: between
//! answers j and i the bucket refilled `c_i − c_j` tokens, where `c = remaining + requests
//! accepted since the count started`, give or take one. So the rate is above
//! `(c_i − c_j − 1) / (sent_i − answer_j)` for every pair: the slowest rate the answers allow,
//! which tightens as answers at different phases of the refill accumulate. Requests in flight
//! when an answer came may have been counted by the server already: they lower the earlier
//! answer's count and never raise the later one's, so the bound stays a lower bound.
//!
//! **The schedule.** The tokens left at the last answer are at least its `remaining`, and at
//! least what an earlier answer plus the refills since (at the bound) leaves; requests in flight
//! or reserved take theirs; the next request goes when one token is there, plus the margin.
//! Only the slowest rate the answers allow is used, so the bucket never runs short; each answer
//! sets the count again, so tokens the rate bound missed are used a few answers later, not lost.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::pacer::later;
use super::{Pacer, Rate};

/// Answers kept for the rate bound (pairs of them) and the token count.
const ANSWERS: usize = 48;
/// A request confirmed this long ago without an answer had none (a lost connection).
const IN_FLIGHT_TTL: Duration = Duration::from_secs(60);

/// One answer: when its request left, when it came back, and its count `c`.
#[derive(Debug, Clone, Copy)]
struct Answer {
    sent: Instant,
    at: Instant,
    /// `remaining` + requests accepted since the count started (this one included).
    count: i64,
    /// Requests in flight when it came back: the server may have counted them already.
    in_flight: i64,
}

/// What the answers of one windowless limit say about a token bucket behind it.
#[derive(Debug, Clone)]
pub(super) struct Bucket {
    limit: u32,
    /// Answers since the count started, oldest first.
    answers: VecDeque<Answer>,
    /// Whether the count started at an answer that found the quota full.
    anchored: bool,
    /// Requests accepted since the count started.
    accepted: i64,
    /// The slowest refill rate (tokens per second) the answers allow; 0 until two refills.
    rate: f64,
    /// Requests confirmed and not yet answered, oldest first.
    in_flight: VecDeque<Instant>,
    /// Set once a refill proved the bucket (module docs).
    proven: bool,
}

impl Bucket {
    fn new(limit: u32) -> Self {
        Bucket {
            limit,
            answers: VecDeque::new(),
            anchored: false,
            accepted: 0,
            rate: 0.0,
            in_flight: VecDeque::new(),
            proven: false,
        }
    }

    /// The refill period, once the bucket is proven and its rate bounded.
    pub(super) fn period(&self) -> Option<Duration> {
        (self.proven && self.rate > 0.0)
            .then(|| Duration::try_from_secs_f64(1.0 / self.rate).ok())
            .flatten()
    }

    /// Feeds one answer; returns true when it proved the bucket.
    fn answer(
        &mut self,
        sent: Instant,
        at: Instant,
        remaining: u32,
        throttled: bool,
        declared: Duration,
    ) -> bool {
        self.in_flight.pop_front();
        while self
            .in_flight
            .front()
            .is_some_and(|c| later(*c, IN_FLIGHT_TTL) <= at)
        {
            self.in_flight.pop_front();
        }
        let in_flight = self.in_flight.len() as i64;
        let remaining = i64::from(remaining);
        if !throttled && remaining + 1 >= i64::from(self.limit) {
            // Full: whatever refilled before was lost to the cap; the count starts here.
            self.answers.clear();
            self.anchored = true;
            self.accepted = 1;
            self.answers.push_back(Answer {
                sent,
                at,
                count: remaining + 1,
                in_flight,
            });
            return false;
        }
        if !throttled {
            self.accepted += 1;
        }
        let count = remaining + self.accepted;
        for j in &self.answers {
            // The earlier count may be too low by what was in flight then.
            let refilled = count - (j.count + j.in_flight);
            let span = at.saturating_duration_since(j.sent).as_secs_f64();
            if refilled >= 2 && span > 0.0 {
                self.rate = self.rate.max((refilled - 1) as f64 / span);
            }
        }
        let mut proved = false;
        if let (false, true, Some(first)) = (self.proven, self.anchored, self.answers.front()) {
            let refilled = count - (first.count + first.in_flight);
            let soon = at.saturating_duration_since(first.sent) < declared.mul_f64(0.75);
            if refilled >= 1 && soon && remaining + 1 < i64::from(self.limit) {
                self.proven = true;
                proved = true;
            }
        }
        if self.answers.len() == ANSWERS {
            // Keep the first (the full one): the longest span bounds the rate best.
            let _ = self.answers.remove(1);
        }
        self.answers.push_back(Answer {
            sent,
            at,
            count,
            in_flight,
        });
        proved
    }

    /// The tokens left just after the last answer, at least.
    fn tokens_at_last(&self) -> Option<(Instant, f64)> {
        let last = self.answers.back()?;
        let accepted = self.accepted as f64;
        let mut tokens = (last.count - self.accepted) as f64;
        for j in &self.answers {
            let refill = self.rate * last.sent.saturating_duration_since(j.at).as_secs_f64();
            let from_j = j.count as f64 + refill - accepted - last.in_flight as f64;
            tokens = tokens.max(from_j);
        }
        Some((last.at, tokens.min(f64::from(self.limit))))
    }
}

impl Pacer {
    /// Feeds one answer of a windowless limit to the bucket model.
    pub(super) fn observe_bucket(
        &mut self,
        sent: Instant,
        at: Instant,
        limit: u32,
        remaining: Option<u32>,
        throttled: bool,
    ) {
        let Some(remaining) = remaining else {
            return;
        };
        let declared = self.declared.window;
        if self.bucket.as_ref().is_none_or(|b| b.limit != limit) {
            self.bucket = Some(Box::new(Bucket::new(limit)));
        }
        let Some(bucket) = self.bucket.as_deref_mut() else {
            return;
        };
        let was = bucket.period();
        bucket.answer(sent, at, remaining, throttled, declared);
        if let (None, Some(rate)) = (was, self.bucket_rate()) {
            self.note(format!(
                "server limit {limit} without a window refills one at a time, {rate} or slower: paced as a token bucket of {limit}"
            ));
            // The window inferred from the refills no longer applies.
            if let Some(w) = &mut self.windowless {
                w.bucket = true;
            }
            self.tightened();
        }
    }

    /// The bucket's sustained pace, one request per refill (rounded up to the millisecond),
    /// for the summary.
    pub(super) fn bucket_rate(&self) -> Option<Rate> {
        let period = self.bucket.as_deref()?.period()?;
        let ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
        Some(Rate::new(1, Duration::from_millis(ms.saturating_add(1))))
    }

    /// A request was confirmed in its slot at `now`: it takes a token when it arrives.
    pub(super) fn bucket_confirmed(&mut self, now: Instant) {
        if let Some(b) = &mut self.bucket {
            b.in_flight.push_back(now);
        }
    }

    /// The earliest instant at or after `at` the bucket has a token for one more request,
    /// after those in flight and those reserved; `None` while no bucket is proven.
    pub(super) fn bucket_next(&self, at: Instant) -> Option<Instant> {
        let b = self.bucket.as_deref()?;
        b.period()?;
        let (last, mut tokens) = b.tokens_at_last()?;
        tokens -= b.in_flight.len() as f64;
        let cap = f64::from(b.limit);
        let mut t = last;
        let mut pending: Vec<Instant> = self.pending.iter().map(|(_, p)| *p).collect();
        pending.sort();
        let refill = |tokens: f64, from: Instant, to: Instant| {
            (tokens + b.rate * to.saturating_duration_since(from).as_secs_f64()).min(cap)
        };
        for p in pending {
            let p = p.max(t);
            tokens = refill(tokens, t, p) - 1.0;
            t = p;
        }
        let wait = ((1.0 - tokens) / b.rate).max(0.0);
        let ready = later(
            t,
            Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX),
        );
        Some(if wait > 0.0 {
            later(ready, self.margin).max(at)
        } else {
            ready.max(at)
        })
    }
}
