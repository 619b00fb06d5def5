//! The pages: each a pure function of what the console knows (the live readings, the store's
//! rows) to the HTML of its body. `Ctx` carries both.

pub mod channels;
pub mod finance;
pub mod order;
pub mod overview;
pub mod payouts;
pub mod reports;
pub mod reviews;
pub mod risk;

use super::data::Data;
use super::html::esc;
use super::live::{ChannelNow, Live, Reading};
use std::fmt::Write as _;

/// What a page reads.
pub struct Ctx<'a> {
    pub data: &'a Data,
    pub live: &'a Live,
}

impl Ctx<'_> {
    /// The latest reading that is not an error, and the latest reading (error or not).
    pub fn latest(&self) -> (Option<Reading>, Option<Reading>) {
        let all = self.live.readings();
        let good = all.iter().rev().find(|r| r.error.is_none()).cloned();
        (good, all.last().cloned())
    }

    /// The channels as the server reports them now (empty when it does not answer).
    pub fn channels_now(&self) -> Vec<ChannelNow> {
        match self.latest() {
            (Some(good), Some(last)) if last.error.is_none() => good.channels,
            _ => Vec::new(),
        }
    }
}

/// `3 unionpay`, or `3` when the name is unknown.
pub fn channel_label(id: i32, now: &[ChannelNow]) -> String {
    match now.iter().find(|c| c.channel_id == id) {
        Some(c) if !c.name.is_empty() => format!("{id} {}", c.name),
        _ => id.to_string(),
    }
}

/// A notice that the store could not be read, escaped.
pub fn store_error(out: &mut String, e: &crate::StoreError) {
    let _ = write!(
        out,
        "<p class=\"alert\">The flow store could not be read: {}</p>",
        esc(&e.0)
    );
}

/// A notice that the metrics endpoint did not answer at the last scrape.
pub fn scrape_error(out: &mut String, last: &Option<Reading>) {
    match last {
        None => out.push_str(
            "<p class=\"note\">Waiting for the first scrape of the server's metrics…</p>",
        ),
        Some(r) => {
            if let Some(e) = &r.error {
                let _ = write!(
                    out,
                    "<p class=\"alert\">The server's metrics endpoint is not answering: {}</p>",
                    esc(e)
                );
            }
        }
    }
}
