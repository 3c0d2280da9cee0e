//! `hs inspect`: a record as docker's inspect object (the fields docker
//! users reach for), plus hs's own (monitor pid, cgroups).

use hs_state::schema::{Rootfs, Status};
use hs_state::Record;
use serde_json::{json, Value};

use crate::chain::{cgroup_parent, short_id, Layout};
use crate::listing::{image_name, state_word};

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    match t {
        Some(t) => Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        None => Value::String("0001-01-01T00:00:00Z".into()),
    }
}

pub fn inspect(record: &Record, layout: &Layout) -> Value {
    let config = &record.config;
    let state = &record.state;
    let status = record.live_status();
    let running = status == Status::Running;
    let pid = state.init.filter(|_| running).map(|p| p.pid).unwrap_or(0);
    let monitor = state.monitor.filter(|m| m.is_alive()).map(|m| m.pid);
    let lower = match &config.rootfs {
        Rootfs::Host { .. } => Value::Null,
        Rootfs::Dir { path } => Value::String(path.clone()),
        Rootfs::Image { lowerdirs, .. } => Value::String(lowerdirs.join(":")),
    };
    let mounts: Vec<Value> = config
        .volumes
        .iter()
        .map(|v| {
            json!({
                "Type": "bind",
                "Source": v.source,
                "Destination": v.destination,
                "Mode": if v.read_only { "ro" } else { "" },
                "RW": !v.read_only,
                "Propagation": "rprivate",
            })
        })
        .collect();
    let binds: Vec<String> = config
        .volumes
        .iter()
        .map(|v| {
            let mut bind = format!("{}:{}", v.source, v.destination);
            if v.read_only {
                bind.push_str(":ro");
            }
            bind
        })
        .collect();
    let limits = &config.limits;
    let (path, args) = config
        .command
        .split_first()
        .map(|(p, a)| (p.clone(), a.to_vec()))
        .unwrap_or_default();
    json!({
        "Id": record.id,
        "Created": time(Some(config.created)),
        "Path": path,
        "Args": args,
        "State": {
            "Status": state_word(status),
            "Running": running,
            "Paused": false,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": pid,
            "MonitorPid": monitor,
            "ExitCode": state.exit_code.unwrap_or(0),
            "ExitCodeKnown": state.exit_code.is_some() || status != Status::Exited,
            "Error": "",
            "StartedAt": time(state.started),
            "FinishedAt": time(state.finished),
        },
        "Image": image_name(&config.rootfs),
        "Rootfs": config.rootfs,
        "LogPath": layout.log(),
        "Name": format!("/{}", record.name),
        "Driver": "overlay",
        "HostConfig": {
            "Binds": binds,
            "LogConfig": log_config(config),
            "AutoRemove": config.auto_remove,
            "Init": config.init,
            "CgroupParent": cgroup_parent(config),
            "Memory": limits.memory.unwrap_or(0),
            "MemorySwap": limits.memory_swap.unwrap_or(0),
            "NanoCpus": limits.cpus.map(|c| (c * 1e9).round() as u64).unwrap_or(0),
            "CpuShares": limits.cpu_shares.unwrap_or(0),
            "CpusetCpus": limits.cpuset_cpus.clone().unwrap_or_default(),
            "CpusetMems": limits.cpuset_mems.clone().unwrap_or_default(),
            "PidsLimit": limits.pids_limit,
            "CapAdd": config.cap_add,
            "CapDrop": config.cap_drop,
            "Privileged": config.privileged,
            "SecurityOpt": if config.no_new_privileges {
                serde_json::json!(["no-new-privileges"])
            } else {
                Value::Null
            },
            "ReadonlyRootfs": config.read_only,
            "Tmpfs": config.tmpfs.iter().map(|p| (p.clone(), "")).collect::<std::collections::BTreeMap<_, _>>(),
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": lower,
                "UpperDir": layout.upper(),
                "WorkDir": layout.work(),
                "MergedDir": layout.rootfs(),
            },
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": config.hostname.clone().unwrap_or_else(|| short_id(&record.id).to_string()),
            "User": config.user.clone().unwrap_or_default(),
            "Tty": config.tty,
            "OpenStdin": config.interactive,
            "Env": config.env,
            "Cmd": config.command,
            "Image": image_name(&config.rootfs),
            "WorkingDir": config.workdir.clone().unwrap_or_default(),
        },
        "Cgroups": state.cgroups,
    })
}

/// docker's `HostConfig.LogConfig`: hs writes CRI records (podman's
/// k8s-file); the rotation options as docker names them.
fn log_config(config: &hs_state::schema::Config) -> Value {
    let mut options = serde_json::Map::new();
    if let Some(size) = config.log_max_size {
        options.insert("max-size".into(), Value::String(size.to_string()));
    }
    if let Some(files) = config.log_max_files {
        options.insert("max-file".into(), Value::String(files.to_string()));
    }
    serde_json::json!({"Type": "k8s-file", "Config": options})
}
