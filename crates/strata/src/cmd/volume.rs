//! `strata volume create|list|show|delete|attach`: volume management through the API.

use crate::api_client::{ApiClient, path_segment};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use strata_core::format_size;

#[derive(Debug, Args)]
pub struct VolumeArgs {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: VolumeCommand,
}

#[derive(Debug, Subcommand)]
enum VolumeCommand {
    /// Create a thin volume.
    Create {
        name: String,
        /// Size, e.g. 20G.
        #[arg(long)]
        size: String,
        /// Workload class: database, web, file, dev, vdi, backup, unknown.
        #[arg(long)]
        profile: Option<String>,
        /// Extent size: a power of two from 64K to 64M [default: 1M].
        #[arg(long)]
        extent_size: Option<String>,
        /// Keep every extent on this tier.
        #[arg(long)]
        pin: Option<String>,
        /// Cut the volume into N partitions spread over the cluster's servers.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        partitions: Option<u32>,
    },
    /// List volumes.
    List,
    /// Show one volume.
    Show { name: String },
    /// Delete a volume and free its space.
    Delete { name: String },
    /// Print how to attach a volume: the nbd:// URI, a qemu -drive line, a libvirt <disk>.
    Attach {
        name: String,
        /// NBD address clients use [default: the API host, port 10809].
        #[arg(long)]
        nbd: Option<String>,
        /// Attach under this lease (`VOLUME:GENERATION`): writes stop when it is taken over.
        #[arg(long)]
        lease: Option<String>,
    },
}

pub fn run(args: VolumeArgs, api: &str) -> anyhow::Result<()> {
    let client = ApiClient::new(api);
    match args.command {
        VolumeCommand::Create {
            name,
            size,
            profile,
            extent_size,
            pin,
            partitions,
        } => {
            strata_core::parse_size(&size)?;
            let mut body = json!({"name": name, "size": size});
            if let Some(profile) = profile {
                body["profile"] = json!(profile);
            }
            if let Some(extent) = extent_size {
                body["extent_size"] = json!(extent);
            }
            if let Some(pin) = pin {
                body["pin"] = json!(pin);
            }
            if let Some(partitions) = partitions {
                body["partitions"] = json!(partitions);
            }
            let info: Value = client.post("/v1/volumes", &body)?;
            if args.json {
                println!("{info}");
            } else {
                println!(
                    "created volume {} ({})",
                    info["name"].as_str().unwrap_or("?"),
                    format_size(info["size_bytes"].as_u64().unwrap_or(0))
                );
                for p in info["partitions"].as_array().into_iter().flatten() {
                    println!(
                        "  partition {} at {} (+{}) on {}",
                        p["index"],
                        p["start_bytes"],
                        format_size(p["len_bytes"].as_u64().unwrap_or(0)),
                        p["server"].as_str().unwrap_or("?")
                    );
                }
            }
        }
        VolumeCommand::List => {
            let volumes: Vec<Value> = client.get("/v1/volumes")?;
            if args.json {
                println!("{}", Value::Array(volumes));
            } else {
                print_table(&volumes);
            }
        }
        VolumeCommand::Show { name } => {
            let mut info: Value = client.get(&format!("/v1/volumes/{}", path_segment(&name)))?;
            let profile: Value =
                client.get(&format!("/v1/volumes/{}/profile", path_segment(&name)))?;
            if args.json {
                info["workload"] = profile;
                println!("{info}");
            } else {
                println!("{}", serde_json::to_string_pretty(&info)?);
                print_workload(&profile);
            }
        }
        VolumeCommand::Delete { name } => {
            client.delete(&format!("/v1/volumes/{}", path_segment(&name)))?;
            if args.json {
                println!("{}", json!({"deleted": name}));
            } else {
                println!("deleted volume {name}");
            }
        }
        VolumeCommand::Attach { name, nbd, lease } => {
            attach(
                &client,
                api,
                &name,
                nbd.as_deref(),
                lease.as_deref(),
                args.json,
            )?;
        }
    }
    Ok(())
}

/// What a hypervisor needs to use a volume: the NBD URI and ready-to-paste snippets.
fn attach(
    client: &ApiClient,
    api: &str,
    name: &str,
    nbd: Option<&str>,
    lease: Option<&str>,
    json_out: bool,
) -> anyhow::Result<()> {
    let info: Value = client.get(&format!("/v1/volumes/{}", path_segment(name)))?;
    // The export name: the volume, or the lease id for a fenced attachment.
    let export = match lease {
        Some(id)
            if id
                .rsplit_once(':')
                .is_some_and(|(v, g)| v == name && g.parse::<u64>().is_ok()) =>
        {
            id
        }
        Some(id) => anyhow::bail!("--lease {id:?} is not a lease of {name} (VOLUME:GENERATION)"),
        None => name,
    };
    let nbd = match nbd {
        Some(addr) => addr.to_owned(),
        None => format!("{}:10809", api_host(api)),
    };
    let (host, port) = nbd
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("--nbd must be HOST:PORT, got {nbd:?}"))?;
    let uri = format!("nbd://{nbd}/{export}");
    let qemu = format!("-drive file={uri},format=raw,if=virtio,cache=none,aio=native");
    let libvirt = format!(
        "<disk type='network' device='disk'>\n  <driver name='qemu' type='raw' cache='none' io='native'/>\n  \
         <source protocol='nbd' name='{export}'>\n    <host name='{host}' port='{port}'/>\n  </source>\n  \
         <target dev='vdb' bus='virtio'/>\n</disk>"
    );
    if json_out {
        println!(
            "{}",
            json!({"volume": name, "size_bytes": info["size_bytes"], "uri": uri, "qemu_drive": qemu, "libvirt_disk": libvirt})
        );
    } else {
        println!("{uri}\n\nqemu:\n  {qemu}\n\nlibvirt:\n{libvirt}");
    }
    Ok(())
}

/// The host part of the API URL (`http://HOST:PORT/...`), where the NBD listener usually is.
fn api_host(api: &str) -> &str {
    let rest = api.split_once("://").map_or(api, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// The live profiler's reading of a volume, as `strata volume show` prints it.
fn print_workload(p: &Value) {
    let text = |key: &str| p[key].as_str().unwrap_or("-").to_owned();
    println!("\nworkload");
    println!("  declared class   {}", text("declared_class"));
    match p["confidence"].as_f64() {
        Some(confidence) => println!(
            "  inferred class   {} (confidence {confidence:.2}, from {})",
            text("inferred_class"),
            text("class_source")
        ),
        None => println!("  inferred class   -"),
    }
    if let (Some(start), Some(end)) = (
        p["window_start_unix_s"].as_f64(),
        p["window_end_unix_s"].as_f64(),
    ) {
        println!(
            "  last window      {start:.1} .. {end:.1} (unix s), {} windows so far",
            p["windows"]
        );
    }
    if let Some(shares) = p["tier_profile"].as_object().filter(|m| !m.is_empty()) {
        let parts: Vec<String> = ["nvme", "ssd", "hdd"]
            .iter()
            .filter_map(|t| Some(format!("{t} {:.0}%", shares.get(*t)?.as_f64()? * 100.0)))
            .collect();
        println!("  tier profile     {}", parts.join(", "));
    }
    if let Some(demand) = p["demand_bytes"].as_f64() {
        println!("  demand           {}", format_size(demand as u64));
    }
    let forecast = &p["forecast"]["total"];
    if let (Some(point), Some(low), Some(high)) = (
        forecast["point"].as_f64(),
        forecast["low"].as_f64(),
        forecast["high"].as_f64(),
    ) {
        let per_tier: Vec<String> = ["nvme", "ssd", "hdd"]
            .iter()
            .filter_map(|t| {
                let bytes = p["forecast"][*t]["point"].as_f64()?;
                Some(format!("{t} {}", format_size(bytes as u64)))
            })
            .collect();
        println!(
            "  forecast         {} (band {} .. {}): {}",
            format_size(point as u64),
            format_size(low as u64),
            format_size(high as u64),
            per_tier.join(", ")
        );
    }
    println!("  deviations       {}", p["deviations_total"]);
    let features = &p["features"];
    if let Some(read) = features["read_fraction"].as_f64() {
        println!(
            "  features         read {:.0}%, sequential {:.0}%, mean request {}",
            read * 100.0,
            features["sequential_fraction"].as_f64().unwrap_or(0.0) * 100.0,
            format_size(features["mean_request_bytes"].as_f64().unwrap_or(0.0) as u64)
        );
    }
    if let Some(version) = p["model"]["forecaster_version"].as_u64() {
        println!("  forecaster       v{version}");
    }
    if let Some(note) = p["note"].as_str() {
        println!("  note             {note}");
    }
}

fn print_table(volumes: &[Value]) {
    println!(
        "{:<24} {:>10} {:>10} {:>8} {:<10} {:<6}",
        "NAME", "SIZE", "ALLOCATED", "EXTENT", "PROFILE", "PIN"
    );
    for v in volumes {
        let size = |key: &str| format_size(v[key].as_u64().unwrap_or(0));
        println!(
            "{:<24} {:>10} {:>10} {:>8} {:<10} {:<6}",
            v["name"].as_str().unwrap_or("?"),
            size("size_bytes"),
            size("allocated_bytes"),
            size("extent_size_bytes"),
            v["profile"].as_str().unwrap_or("-"),
            v["pin"].as_str().unwrap_or("-"),
        );
    }
}
