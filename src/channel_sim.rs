//! `sluice channel-sim`: simulated payment channels as real connectors over TCP. Each channel logs
//! in with the channel role, receives Dispatch / RefundDispatch and answers ChannelResult /
//! RefundChannelResult after a latency drawn from its model, with scheduled outages; seeded, so a
//! run is reproducible. The server's in-process simulator plays the same model (gateway/src/sim.rs).

use clap::Args;
use sluice_gateway::client::{Client, ClientError};
use sluice_gateway::config::{Config, DEFAULT_CONFIG, SimChannel, SimOutage};
use sluice_gateway::sim::{SimReply, Simulator};
use sluice_node::wall_clock_ns;
use sluice_protocol::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Args)]
pub struct ChannelSimArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub addr: SocketAddr,
    /// Channels to play (comma-separated ids); default: every channel of the simulator section.
    #[arg(long)]
    pub channels: Option<String>,
    /// Configuration whose [simulator] section gives the channel models (default: the embedded one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seed of the outcomes and latencies.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Scheduled outage, repeatable: CHANNEL:FROM-TO[:MODE] in seconds since start, MODE error
    /// (default), decline or timeout. Example: --outage 2:5-15 (alipay fails from second 5 to 15).
    #[arg(long)]
    pub outage: Vec<String>,
    /// Secret of the channel keys (ch-wechat, ch-alipay, ... in the embedded configuration).
    #[arg(long, default_value = "sluice-demo-channel")]
    pub secret: String,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long)]
    pub seconds: Option<f64>,
}

/// The key id the embedded configuration gives each demo channel.
fn key_for(channel: u16) -> Option<&'static str> {
    match channel {
        1 => Some("ch-wechat"),
        2 => Some("ch-alipay"),
        3 => Some("ch-unionpay"),
        4 => Some("ch-stripe"),
        5 => Some("ch-paypal"),
        _ => None,
    }
}

/// Parses CHANNEL:FROM-TO[:MODE].
pub fn parse_outage(text: &str) -> Result<(u16, SimOutage), String> {
    let bad = || format!("--outage {text:?}: expected CHANNEL:FROM-TO[:MODE], e.g. 2:5-15:error");
    let mut parts = text.split(':');
    let channel: u16 = parts.next().and_then(|c| c.parse().ok()).ok_or_else(bad)?;
    let (from, to) = parts
        .next()
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let from_s: f64 = from.parse().map_err(|_| bad())?;
    let to_s: f64 = to.parse().map_err(|_| bad())?;
    let mode = parts.next().unwrap_or("error").to_string();
    let valid =
        from_s >= 0.0 && to_s >= from_s && matches!(mode.as_str(), "error" | "decline" | "timeout");
    if !valid {
        return Err(bad());
    }
    Ok((channel, SimOutage { from_s, to_s, mode }))
}

pub fn run(args: ChannelSimArgs) -> Result<(), String> {
    let text = match &args.config {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => DEFAULT_CONFIG.to_string(),
    };
    let config = Config::parse(&text).map_err(|e| e.to_string())?;
    let mut models = config.simulator.channels.clone();
    if let Some(list) = &args.channels {
        let wanted: Vec<u16> = list
            .split(',')
            .map(|c| {
                c.trim()
                    .parse()
                    .map_err(|_| format!("--channels: {c:?} is not an id"))
            })
            .collect::<Result<_, _>>()?;
        models.retain(|m| wanted.contains(&m.channel_id));
        if models.len() != wanted.len() {
            return Err("--channels names a channel the simulator section does not model".into());
        }
    }
    for o in &args.outage {
        let (channel, outage) = parse_outage(o)?;
        let m = models
            .iter_mut()
            .find(|m| m.channel_id == channel)
            .ok_or_else(|| format!("--outage: channel {channel} is not simulated"))?;
        m.outages.push(outage);
    }
    if models.is_empty() {
        return Err("no channel to simulate".into());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).map_err(|e| e.to_string())?;
    }
    let start_ns = wall_clock_ns();
    let deadline_ns = args.seconds.map(|s| start_ns + (s * 1e9) as u64);
    let mut threads = Vec::new();
    for (i, model) in models.into_iter().enumerate() {
        let key = key_for(model.channel_id).ok_or_else(|| {
            format!(
                "channel {} has no demo key; use the ch-* keys of the embedded config",
                model.channel_id
            )
        })?;
        let client = Client::login(args.addr, Role::Channel, key, &args.secret)
            .map_err(|e| format!("channel {}: {e}", model.channel_id))?;
        eprintln!(
            "channel-sim: channel {} logged in as {key}",
            model.channel_id
        );
        let stop = stop.clone();
        let seed = args.seed.wrapping_add(i as u64 * 0x9E37_79B9);
        threads.push(std::thread::spawn(move || {
            serve_channel(client, model, seed, start_ns, deadline_ns, &stop)
        }));
    }
    let mut result = Ok(());
    for t in threads {
        match t.join() {
            Ok(Ok(stats)) => eprintln!("channel-sim: {stats}"),
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err("a channel thread panicked".into()),
        }
    }
    result
}

/// Answers one channel's dispatches until stopped. Returns a summary line.
fn serve_channel(
    mut client: Client,
    model: SimChannel,
    seed: u64,
    start_ns: u64,
    deadline_ns: Option<u64>,
    stop: &AtomicBool,
) -> Result<String, String> {
    let channel = model.channel_id;
    let mut sim = Simulator::new(&[model], seed, start_ns, 1 << 16);
    let (mut dispatches, mut answers) = (0u64, 0u64);
    let mut last_heartbeat = wall_clock_ns();
    loop {
        let now = wall_clock_ns();
        if stop.load(Ordering::Acquire) || deadline_ns.is_some_and(|d| now >= d) {
            let _ = client.send(&Logout {
                reason: ReasonCode::None,
                text: codec::text("channel-sim stopping"),
            });
            return Ok(format!(
                "channel {channel}: {dispatches} dispatches, {answers} answers"
            ));
        }
        while let Some((_, reply)) = sim.due(now) {
            let sent = match &reply {
                SimReply::Payment(r) => client.send(r),
                SimReply::Refund(r) => client.send(r),
            };
            sent.map_err(|e| format!("channel {channel}: send: {e}"))?;
            answers += 1;
        }
        if now.saturating_sub(last_heartbeat) > 500_000_000 {
            client
                .send(&Heartbeat { timestamp_ns: now })
                .map_err(|e| format!("channel {channel}: {e}"))?;
            last_heartbeat = now;
        }
        let wait = sim.next_due_ns().map_or(Duration::from_millis(20), |d| {
            Duration::from_nanos(d.saturating_sub(now)).min(Duration::from_millis(20))
        });
        match client.recv(wait.max(Duration::from_micros(100))) {
            Ok(Some(AnyMessage::Dispatch(d))) => {
                dispatches += 1;
                sim.on_dispatch(&d, wall_clock_ns());
            }
            Ok(Some(AnyMessage::RefundDispatch(d))) => {
                dispatches += 1;
                sim.on_refund(&d, wall_clock_ns());
            }
            Ok(Some(AnyMessage::Logout(l))) => {
                return Err(format!(
                    "channel {channel}: server logged out: {:?} {}",
                    l.reason, l.text
                ));
            }
            Ok(Some(AnyMessage::Reject(r))) => eprintln!(
                "channel-sim: channel {channel}: reject {:?} {}",
                r.reason, r.text
            ),
            Ok(_) => {}
            Err(ClientError::Closed) => {
                return Err(format!(
                    "channel {channel}: connection closed by the server"
                ));
            }
            Err(e) => return Err(format!("channel {channel}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_parse() {
        let (c, o) = parse_outage("2:5-15").unwrap();
        assert_eq!(
            (c, o.from_s, o.to_s, o.mode.as_str()),
            (2, 5.0, 15.0, "error")
        );
        let (_, o) = parse_outage("1:0.5-2:timeout").unwrap();
        assert_eq!(o.mode, "timeout");
        assert!(parse_outage("2:15-5").is_err());
        assert!(parse_outage("x:1-2").is_err());
        assert!(parse_outage("2:1-2:explode").is_err());
    }
}
