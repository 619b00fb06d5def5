//! The Sluice server: a mio gateway, the disruptor input ring with the journaler and the
//! business-logic processor, and egress that sends only what is durable. See docs/PIPELINE.md.

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod config;
pub mod config_credit;
pub mod config_export;
pub mod config_sim;
pub mod egress;
pub mod metrics;
pub mod net;
pub mod output_log;
pub mod pipeline;
pub mod resume;
pub mod sequencer;
pub mod server;
pub mod session;
pub mod sim;
pub mod sim_bills;
pub mod sim_bills_days;
pub mod sim_bills_inject;
pub mod sim_bills_write;
pub mod sim_book;
pub mod sim_book_file;
pub mod sim_bridge;
pub mod sim_check;
pub mod sim_faults;
pub mod sim_payout;
pub mod sim_payout_book;
pub mod sim_payout_book_file;
pub mod sim_payout_check;
pub mod wait;
