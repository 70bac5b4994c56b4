//! `strata top`: a live view of one server — tier occupancy and I/O rates, volumes with
//! their IOPS and hit ratio per tier, the newest migrations — refreshed every interval
//! from `GET /v1/stats` and `GET /v1/migrations`. Rates are differences between two polls.
//!
//! On a terminal it is a full-screen ratatui view (`q` or Esc quits); when stdout is not a
//! terminal each frame is printed as text, and `--json` prints one JSON line per interval.

use crate::api_client::ApiClient;
use anyhow::Context;
use clap::Args;
use ratatui::Terminal;
use ratatui::backend::{Backend, TestBackend};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use strata_api::{MigrationLog, StatsReply};
use strata_core::format_size;

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Seconds between refreshes (0.1 to 3600).
    #[arg(long, default_value_t = 1.0, value_parser = parse_interval)]
    interval: f64,
    /// Stop after this many refreshes [default: until q].
    #[arg(long)]
    iterations: Option<u64>,
    /// One JSON document per refresh, one per line, instead of the view.
    #[arg(long)]
    json: bool,
}

/// What one refresh shows: the counters of the last poll and the rates since the one before.
#[derive(Debug, Clone, Serialize)]
struct View {
    server_id: String,
    interval_s: f64,
    tiers: Vec<TierView>,
    volumes: Vec<VolumeView>,
    migrations: MigrationView,
}

#[derive(Debug, Clone, Serialize)]
struct TierView {
    kind: String,
    capacity_bytes: u64,
    used_bytes: u64,
    reserved_bytes: u64,
    occupancy: f64,
    read_iops: f64,
    write_iops: f64,
    read_p99_us: u64,
}

#[derive(Debug, Clone, Serialize)]
struct VolumeView {
    name: String,
    class: String,
    allocated_bytes: u64,
    read_iops: f64,
    write_iops: f64,
    read_mbps: f64,
    write_mbps: f64,
    /// Share of reads each tier served over the whole life of the volume.
    hit_ratio_by_tier: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
struct MigrationView {
    active: bool,
    note: Option<String>,
    /// Newest first: `volume extent from → to (reason, outcome)`.
    recent: Vec<String>,
}

/// `(now − before) / seconds`, 0 when a counter went backwards (the server restarted).
fn rate(now: u64, before: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    now.saturating_sub(before) as f64 / seconds
}

fn view(prev: Option<&StatsReply>, now: &StatsReply, log: &MigrationLog, seconds: f64) -> View {
    let tiers = now
        .tiers
        .iter()
        .map(|t| {
            let before = prev.and_then(|p| p.tiers.iter().find(|b| b.kind == t.kind));
            let (reads, writes) =
                before.map_or((t.io.reads, t.io.writes), |b| (b.io.reads, b.io.writes));
            TierView {
                kind: t.kind.clone(),
                capacity_bytes: t.capacity_bytes,
                used_bytes: t.used_bytes,
                reserved_bytes: t.reserved_bytes,
                occupancy: t.occupancy,
                read_iops: rate(t.io.reads, reads, seconds),
                write_iops: rate(t.io.writes, writes, seconds),
                read_p99_us: t.io.read_latency_p99_us,
            }
        })
        .collect();
    let volumes = now
        .volumes
        .iter()
        .map(|v| {
            let before = prev
                .and_then(|p| p.volumes.iter().find(|b| b.volume.name == v.volume.name))
                .map_or(&v.io, |b| &b.io);
            VolumeView {
                name: v.volume.name.clone(),
                class: v.volume.profile.clone().unwrap_or_else(|| "-".into()),
                allocated_bytes: v.volume.allocated_bytes,
                read_iops: rate(v.io.reads, before.reads, seconds),
                write_iops: rate(v.io.writes, before.writes, seconds),
                read_mbps: rate(v.io.read_bytes, before.read_bytes, seconds) / 1e6,
                write_mbps: rate(v.io.write_bytes, before.write_bytes, seconds) / 1e6,
                hit_ratio_by_tier: v.io.hit_ratio_by_tier.clone(),
            }
        })
        .collect();
    View {
        server_id: now.server_id.clone(),
        interval_s: seconds,
        tiers,
        volumes,
        migrations: MigrationView {
            active: now.migrations.active,
            note: now.migrations.note.clone().or_else(|| log.note.clone()),
            recent: log
                .migrations
                .iter()
                .map(|m| {
                    format!(
                        "{} extent {} {} -> {} ({}, {}, {})",
                        m.volume,
                        m.extent,
                        m.from_tier,
                        m.to_tier,
                        m.reason,
                        m.outcome,
                        format_size(m.bytes)
                    )
                })
                .collect(),
        },
    }
}

fn draw(frame: &mut ratatui::Frame<'_>, v: &View) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let areas = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(v.tiers.len() as u16 + 3),
        Constraint::Min(4),
        Constraint::Length(8),
    ])
    .split(frame.area());
    frame.render_widget(
        Paragraph::new(format!(
            "strata top — server {}, every {:.1} s (q quits)",
            v.server_id, v.interval_s
        ))
        .style(bold),
        areas[0],
    );
    let tier_rows = v.tiers.iter().map(|t| {
        Row::new(vec![
            t.kind.clone(),
            format_size(t.capacity_bytes),
            format_size(t.used_bytes),
            format_size(t.reserved_bytes),
            format!("{:.1}%", t.occupancy * 100.0),
            format!("{:.0}", t.read_iops),
            format!("{:.0}", t.write_iops),
            t.read_p99_us.to_string(),
        ])
    });
    let widths = [8, 10, 10, 10, 9, 10, 10, 12].map(Constraint::Length);
    frame.render_widget(
        Table::new(tier_rows, widths)
            .header(
                Row::new([
                    "TIER",
                    "CAPACITY",
                    "USED",
                    "RESERVED",
                    "OCCUPIED",
                    "READ/s",
                    "WRITE/s",
                    "READ p99 µs",
                ])
                .style(bold),
            )
            .block(Block::default().borders(Borders::ALL).title("tiers")),
        areas[1],
    );
    let tier_names: Vec<&str> = v.tiers.iter().map(|t| t.kind.as_str()).collect();
    let volume_rows = v.volumes.iter().map(|vol| {
        let mut cells = vec![
            vol.name.clone(),
            vol.class.clone(),
            format_size(vol.allocated_bytes),
            format!("{:.0}", vol.read_iops),
            format!("{:.0}", vol.write_iops),
            format!("{:.1}", vol.read_mbps),
            format!("{:.1}", vol.write_mbps),
        ];
        for tier in &tier_names {
            let hit = vol.hit_ratio_by_tier.get(*tier).copied().unwrap_or(0.0);
            cells.push(format!("{:.1}%", hit * 100.0));
        }
        Row::new(cells)
    });
    let mut header: Vec<String> = [
        "VOLUME", "CLASS", "ALLOC", "READ/s", "WRITE/s", "RD MB/s", "WR MB/s",
    ]
    .map(String::from)
    .to_vec();
    header.extend(tier_names.iter().map(|t| format!("HIT {t}")));
    let mut widths = vec![20, 9, 9, 9, 9, 8, 8]
        .into_iter()
        .map(Constraint::Length)
        .collect::<Vec<_>>();
    widths.extend(tier_names.iter().map(|_| Constraint::Length(9)));
    frame.render_widget(
        Table::new(volume_rows, widths)
            .header(Row::new(header).style(bold))
            .block(Block::default().borders(Borders::ALL).title("volumes")),
        areas[2],
    );
    let mut lines = vec![match (&v.migrations.active, &v.migrations.note) {
        (true, _) => "migrations active".to_owned(),
        (false, Some(note)) => format!("migrations not active ({note})"),
        (false, None) => "migrations not active".to_owned(),
    }];
    lines.extend(v.migrations.recent.iter().cloned());
    frame.render_widget(
        Paragraph::new(lines.join("\n")).block(
            Block::default()
                .borders(Borders::ALL)
                .title("newest migrations"),
        ),
        areas[3],
    );
}

/// The frame as plain text, for a stdout that is not a terminal.
fn frame_text(v: &View) -> anyhow::Result<String> {
    let mut terminal = Terminal::new(TestBackend::new(120, 32)).context("text backend")?;
    terminal
        .draw(|frame| draw(frame, v))
        .context("drawing the frame")?;
    let buffer = terminal.backend().buffer();
    let width = buffer.area.width as usize;
    let cells: Vec<&str> = buffer.content.iter().map(|c| c.symbol()).collect();
    Ok(cells
        .chunks(width)
        .map(|row| row.concat().trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Polls the server once: its stats and its newest migrations.
fn poll(client: &ApiClient) -> anyhow::Result<(StatsReply, MigrationLog)> {
    Ok((
        client.get("/v1/stats")?,
        client.get("/v1/migrations?limit=5")?,
    ))
}

/// A refresh interval in seconds; out of range is a usage error (exit 2).
fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.1..=3600.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0.1 to 3600"
        )),
    }
}

pub fn run(args: TopArgs, api: &str) -> anyhow::Result<()> {
    let client = ApiClient::new(api);
    let interval = Duration::from_secs_f64(args.interval);
    let interactive = !args.json && std::io::stdout().is_terminal();
    let mut terminal = interactive.then(ratatui::init);
    let outcome = refresh_loop(&client, &args, interval, terminal.as_mut());
    if terminal.is_some() {
        ratatui::restore();
    }
    outcome
}

fn refresh_loop<B: Backend>(
    client: &ApiClient,
    args: &TopArgs,
    interval: Duration,
    mut terminal: Option<&mut Terminal<B>>,
) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let mut prev: Option<(StatsReply, Instant)> = None;
    let mut shown = 0u64;
    loop {
        let (stats, log) = poll(client)?;
        let polled_at = Instant::now();
        let seconds = prev
            .as_ref()
            .map_or(0.0, |(_, at)| polled_at.duration_since(*at).as_secs_f64());
        let v = view(prev.as_ref().map(|(s, _)| s), &stats, &log, seconds);
        match terminal.as_deref_mut() {
            Some(terminal) => {
                terminal.draw(|frame| draw(frame, &v))?;
            }
            None if args.json => println!("{}", serde_json::to_string(&v)?),
            None => println!("{}\n", frame_text(&v)?),
        }
        shown += 1;
        if args.iterations.is_some_and(|n| shown >= n) {
            return Ok(());
        }
        prev = Some((stats, polled_at));
        if wait_or_quit(interval, terminal.is_some())? {
            return Ok(());
        }
    }
}

/// Sleeps for `interval`; on a terminal, returns early with true when `q` or Esc is hit.
fn wait_or_quit(interval: Duration, interactive: bool) -> anyhow::Result<bool> {
    if !interactive {
        std::thread::sleep(interval);
        return Ok(false);
    }
    let deadline = Instant::now() + interval;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if event::poll(left)?
            && let Event::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
            && matches!(key.code, KeyCode::Char('q') | KeyCode::Esc)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(tier_reads: u64) -> StatsReply {
        serde_json::from_value(serde_json::json!({
            "server_id": "s1",
            "tiers": [{"kind": "nvme", "capacity_bytes": 1u64 << 30, "used_bytes": 1u64 << 28,
                       "free_bytes": 3u64 << 28, "reserved_bytes": 0, "occupancy": 0.25,
                       "slot_granule_bytes": 65536, "cost_per_gib_month": 0.25,
                       "profile": {"read_latency_us": 80.0, "write_latency_us": 20.0,
                                   "read_mbps": 3000.0, "write_mbps": 2000.0,
                                   "parallelism": 32, "seek_penalty": false},
                       "io": {"reads": tier_reads, "writes": 0, "flushes": 0, "discards": 0,
                              "read_bytes": 0, "write_bytes": 0, "errors": 0,
                              "read_latency_mean_us": 0.0, "read_latency_p99_us": 90,
                              "write_latency_mean_us": 0.0, "write_latency_p99_us": 0}}],
            "volumes": [],
            "migrations": {"active": false, "note": "policy static"},
            "prefetch": {"active": false},
        }))
        .expect("a stats reply")
    }

    #[test]
    fn rates_are_differences_over_the_interval_and_frames_render_as_text() {
        let log = MigrationLog {
            migrations: Vec::new(),
            note: None,
        };
        let first = view(None, &stats(100), &log, 0.0);
        assert_eq!(
            first.tiers[0].read_iops, 0.0,
            "no rate before a second poll"
        );
        let second = view(Some(&stats(100)), &stats(600), &log, 2.0);
        assert_eq!(second.tiers[0].read_iops, 250.0);
        // A counter that went backwards (a restarted server) is not a negative rate.
        let restarted = view(Some(&stats(600)), &stats(10), &log, 1.0);
        assert_eq!(restarted.tiers[0].read_iops, 0.0);
        let text = frame_text(&second).unwrap();
        for needle in ["server s1", "nvme", "250", "25.0%", "policy static"] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
