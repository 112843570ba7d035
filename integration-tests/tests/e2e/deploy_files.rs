//! The deploy files (`deploy/`) against the config schema and each other,
//! with no Docker, Kubernetes or network: files only. Every pool config they
//! carry loads through `Config` for the role that runs it, with the
//! environment overrides they set (so a renamed or removed key, or a
//! misspelt `TOS_POOL_*` variable, fails here and not in a deploy), and every
//! port they publish, forward to or probe is one those configs bind.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize as _;
use serde_yaml::{Mapping, Value};
use tos_pool_common::config::{Config, Role, parse_duration};

const MASTER_BINARY: &str = "tos-pool-master";
const SLAVE_BINARY: &str = "tos-pool-slave";
/// What an `EnvironmentFile` or a secret store would hold for
/// `master.secret` where the file itself sets nothing.
const SECRET: &str = "a-test-secret-of-32-characters!!";
/// Time a drained slave is given to exit after its drain, at the least.
const EXIT_MARGIN: Duration = Duration::from_secs(5);

// ---- files ----

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds integration-tests/")
        .to_path_buf()
}

fn deploy() -> PathBuf {
    repo().join("deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

// ---- YAML ----

/// One YAML document, with `<<` merge keys applied (nested ones too).
fn yaml(text: &str, what: &str) -> Value {
    let mut value: Value =
        serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{what} is not YAML: {e}"));
    merge(&mut value, what);
    value
}

/// Every document of a multi-document YAML file.
fn yaml_documents(text: &str, what: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| {
            let mut value =
                Value::deserialize(document).unwrap_or_else(|e| panic!("{what} is not YAML: {e}"));
            merge(&mut value, what);
            value
        })
        .filter(|value| !value.is_null())
        .collect()
}

fn merge(value: &mut Value, what: &str) {
    // A merged mapping may bring its own `<<`: apply until none is left.
    for _ in 0..4 {
        value
            .apply_merge()
            .unwrap_or_else(|e| panic!("{what}: merge keys: {e}"));
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| items.iter().map(text).collect())
        .unwrap_or_default()
}

fn mapping<'a>(value: &'a Value, what: &str) -> &'a Mapping {
    value
        .as_mapping()
        .unwrap_or_else(|| panic!("{what}: expected a mapping, found {value:?}"))
}

fn u64_of(value: &Value, what: &str) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: expected a number, found {value:?}"))
}

// ---- pool configs ----

/// Loads a pool config as its binary would: YAML, overrides from `env`, the
/// rules of `role`.
fn load(text: &str, env: &[(String, String)], role: Role, what: &str) -> Config {
    let config = Config::from_yaml_str(text, env.iter().cloned())
        .unwrap_or_else(|e| panic!("{what} does not load: {e}"));
    config
        .validate_for(role)
        .unwrap_or_else(|e| panic!("{what} is no valid {role:?} config: {e}"));
    config
}

fn role_of(binary: &str) -> Option<Role> {
    match binary.rsplit('/').next() {
        Some(MASTER_BINARY) => Some(Role::Master),
        Some(SLAVE_BINARY) => Some(Role::Slave),
        _ => None,
    }
}

/// The argument after `--config` (or `-c`) on a command line.
fn config_argument(command: &[String], what: &str) -> String {
    command
        .windows(2)
        .find(|pair| pair[0] == "--config" || pair[0] == "-c")
        .map(|pair| pair[1].clone())
        .unwrap_or_else(|| panic!("{what}: the command {command:?} names no --config"))
}

/// The miner doors a slave config opens: door name and address. ws and wss
/// on one port count once.
fn doors(config: &Config) -> Vec<(&'static str, SocketAddr)> {
    let slave = &config.slave;
    let mut doors = vec![("stratum", slave.stratum_bind)];
    if let Some(addr) = slave.stratum_tls_bind {
        doors.push(("stratum_tls", addr));
    }
    if slave.websocket_enabled {
        doors.push(("websocket", slave.websocket_bind));
    }
    if let Some(addr) = slave.wss_bind()
        && !slave.wss_shares_ws_port()
    {
        doors.push(("websocket_tls", addr));
    }
    if slave.xatum_enabled {
        doors.push(("xatum", slave.xatum_bind));
    }
    doors
}

fn door_ports(config: &Config) -> BTreeSet<u16> {
    doors(config).iter().map(|(_, addr)| addr.port()).collect()
}

/// The files a role's config reads besides itself: key and path.
fn config_files(config: &Config, role: Role) -> Vec<(&'static str, PathBuf)> {
    let mut files = Vec::new();
    let mut add = |key, path: &Option<PathBuf>| {
        if let Some(path) = path {
            files.push((key, path.clone()));
        }
    };
    match role {
        Role::Master => {
            add("master.tls_cert", &config.master.tls_cert);
            add("master.tls_key", &config.master.tls_key);
        }
        Role::Slave => {
            add("slave.tls_cert", &config.slave.tls_cert);
            add("slave.tls_key", &config.slave.tls_key);
            add("slave.master_ca", &config.slave.master_ca);
        }
    }
    files
}

/// Directories a role keeps state in that must outlive its process and
/// container: the slave's share journal, the master's block spool.
fn state_dirs(config: &Config, role: Role) -> Vec<(&'static str, PathBuf)> {
    match role {
        Role::Master => config
            .master
            .block_spool_dir
            .iter()
            .map(|dir| ("master.block_spool_dir", dir.clone()))
            .collect(),
        Role::Slave => config
            .slave
            .journal_path
            .iter()
            .filter_map(|path| path.parent())
            .map(|dir| ("slave.journal_path", dir.to_path_buf()))
            .collect(),
    }
}

/// Listeners another machine or container must reach are not on loopback.
fn assert_reachable(what: &str, key: &str, addr: SocketAddr) {
    assert!(
        !addr.ip().is_loopback(),
        "{what}: {key} is {addr}, on loopback: nothing outside the process's host reaches it"
    );
}

/// Host and port of a URL (`scheme://[user@]host[:port][/path]`).
fn host_port(url: &str) -> (String, u16) {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("{url:?} has no scheme"));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match authority.rsplit_once(':') {
        Some((host, port)) => (
            host.to_string(),
            port.parse()
                .unwrap_or_else(|_| panic!("{url:?}: port {port:?}")),
        ),
        None => (
            authority.to_string(),
            match scheme {
                "http" => 80,
                "https" => 443,
                "redis" | "rediss" => 6379,
                other => panic!("{url:?}: no default port for {other}"),
            },
        ),
    }
}

fn duration(text: &str, what: &str) -> Duration {
    parse_duration(text).unwrap_or_else(|e| panic!("{what}: {text:?} is no duration: {e}"))
}

/// A drained slave must be given its whole drain, and time to exit, before
/// it is killed.
fn assert_stop_covers_drain(what: &str, stop: Duration, before_sigterm: Duration, slave: &Config) {
    let needed = before_sigterm + slave.slave.drain_grace + slave.slave.drain_timeout + EXIT_MARGIN;
    assert!(
        stop >= needed,
        "{what}: {stop:?} before the kill is less than {before_sigterm:?} before SIGTERM + \
         slave.drain_grace {:?} + slave.drain_timeout {:?} + {EXIT_MARGIN:?} to exit",
        slave.slave.drain_grace,
        slave.slave.drain_timeout
    );
}

/// One descriptor per miner, plus the operations server's connections and
/// headroom.
fn assert_open_files_fit(what: &str, limit: u64, config: &Config) {
    let needed =
        u64::from(config.security.max_connections) + u64::from(config.http.max_connections) + 1_000;
    assert!(
        config.security.max_connections > 0 && limit >= needed,
        "{what}: an open-files limit of {limit} does not hold security.max_connections ({}) \
         + http.max_connections ({}) + 1000",
        config.security.max_connections,
        config.http.max_connections
    );
}

// ---- HAProxy ----

/// A haproxy.cfg as sections of tokenised lines.
struct Haproxy {
    sections: Vec<Section>,
}

struct Section {
    kind: String,
    name: String,
    lines: Vec<Vec<String>>,
}

impl Section {
    /// The tokens after `keyword` (which may be two words, `timeout client`)
    /// on every line that starts with it.
    fn all(&self, keyword: &str) -> Vec<&[String]> {
        let words: Vec<&str> = keyword.split(' ').collect();
        self.lines
            .iter()
            .filter(|line| {
                line.len() >= words.len() && line.iter().zip(&words).all(|(a, b)| a == b)
            })
            .map(|line| &line[words.len()..])
            .collect()
    }

    fn first(&self, keyword: &str) -> Option<&[String]> {
        self.all(keyword).into_iter().next()
    }
}

impl Haproxy {
    fn parse(text: &str) -> Haproxy {
        let mut sections: Vec<Section> = Vec::new();
        for raw in text.lines() {
            let line = raw.split('#').next().unwrap_or_default();
            let tokens: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            let Some(first) = tokens.first() else {
                continue;
            };
            let starts_section = !raw.starts_with(char::is_whitespace)
                && matches!(
                    first.as_str(),
                    "global" | "defaults" | "frontend" | "backend" | "listen" | "resolvers"
                );
            if starts_section {
                sections.push(Section {
                    kind: first.clone(),
                    name: tokens.get(1).cloned().unwrap_or_default(),
                    lines: Vec::new(),
                });
            } else if let Some(section) = sections.last_mut() {
                section.lines.push(tokens);
            }
        }
        Haproxy { sections }
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.kind == kind)
    }

    fn defaults(&self) -> Option<&Section> {
        self.of_kind("defaults").last()
    }

    /// A section's own setting, or the defaults'.
    fn setting<'a>(&'a self, section: &'a Section, keyword: &str) -> Option<&'a [String]> {
        section
            .first(keyword)
            .or_else(|| self.defaults().and_then(|d| d.first(keyword)))
    }

    fn mode(&self, section: &Section) -> String {
        self.setting(section, "mode")
            .and_then(|tokens| tokens.first().cloned())
            .unwrap_or_else(|| "tcp".to_string())
    }
}

fn bind_port(address: &str, what: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{what}: cannot read a port from {address:?}"))
}

/// Checks a HAProxy config in front of slaves: every TCP frontend forwards
/// to a slave door on its own port, with a PROXY v2 header, health-checked
/// on `/readyz` at the slave's `http_bind`; every door of every slave is
/// served; timeouts leave idle miners to the slave. `slave_of` names the
/// config of the slave at a server's host. Returns the ports of every
/// frontend (TCP doors and others).
fn check_haproxy<'a>(
    what: &str,
    cfg: &Haproxy,
    slave_of: impl Fn(&str) -> Option<&'a Config>,
) -> BTreeSet<u16> {
    let defaults = cfg.defaults();
    let default_server: Vec<String> = defaults
        .map(|d| d.all("default-server").concat())
        .unwrap_or_default();
    let mut all_ports = BTreeSet::new();
    let mut door_frontends = BTreeSet::new();
    let mut slaves_seen: Vec<&Config> = Vec::new();
    for frontend in cfg.of_kind("frontend") {
        let where_ = format!("{what}: frontend {}", frontend.name);
        let ports: Vec<u16> = frontend
            .all("bind")
            .iter()
            .map(|tokens| bind_port(&tokens[0], &where_))
            .collect();
        assert!(!ports.is_empty(), "{where_} binds nothing");
        all_ports.extend(&ports);
        if cfg.mode(frontend) != "tcp" {
            continue;
        }
        let backend_name = frontend
            .first("default_backend")
            .and_then(|t| t.first())
            .unwrap_or_else(|| panic!("{where_} has no default_backend"));
        let backend = cfg
            .of_kind("backend")
            .find(|b| &b.name == backend_name)
            .unwrap_or_else(|| panic!("{where_}: no backend {backend_name}"));
        let where_ = format!("{where_} → backend {backend_name}");
        assert_eq!(
            cfg.mode(backend),
            "tcp",
            "{where_}: TLS must pass through to the slaves (mode tcp)"
        );
        let check_uri = backend
            .all("http-check send")
            .into_iter()
            .chain(
                defaults
                    .map(|d| d.all("http-check send"))
                    .unwrap_or_default(),
            )
            .find_map(|tokens| {
                tokens
                    .windows(2)
                    .find(|pair| pair[0] == "uri")
                    .map(|pair| pair[1].clone())
            })
            .or_else(|| {
                cfg.setting(backend, "option httpchk")
                    .and_then(|tokens| tokens.get(1).cloned())
            });
        assert!(
            cfg.setting(backend, "option httpchk").is_some(),
            "{where_}: no option httpchk"
        );
        assert_eq!(
            check_uri.as_deref(),
            Some("/readyz"),
            "{where_}: health checks must ask /readyz"
        );
        assert_eq!(
            cfg.setting(backend, "http-check expect"),
            Some(&["status".to_string(), "200".to_string()][..]),
            "{where_}: a check passes on 200 only"
        );
        let backend_default: Vec<String> = backend.all("default-server").concat();
        let servers = backend.all("server");
        assert!(!servers.is_empty(), "{where_} has no server");
        for server in servers {
            let (name, address) = (&server[0], &server[1]);
            let where_ = format!("{where_}, server {name}");
            let (host, port) = address
                .rsplit_once(':')
                .map(|(h, p)| (h, p.parse::<u16>().ok()))
                .unwrap_or_else(|| panic!("{where_}: {address:?} has no port"));
            let slave = slave_of(host)
                .unwrap_or_else(|| panic!("{where_}: {host} is not a slave of these files"));
            let options: Vec<&String> = default_server
                .iter()
                .chain(&backend_default)
                .chain(&server[2..])
                .collect();
            let has = |word: &str| options.iter().any(|o| o.as_str() == word);
            assert!(
                port.is_some_and(|p| door_ports(slave).contains(&p)),
                "{where_}: {address} is none of the slave's doors {:?}",
                doors(slave)
            );
            assert!(
                ports.iter().all(|p| Some(*p) == port),
                "{where_}: the balancer's port {ports:?} differs from the door's {port:?}"
            );
            assert!(
                has("send-proxy-v2"),
                "{where_}: no send-proxy-v2 (the slave needs the miner's address)"
            );
            assert!(
                slave.slave.proxy_protocol,
                "{where_}: sends PROXY headers but the slave's proxy_protocol is off"
            );
            assert!(has("check"), "{where_}: not health-checked");
            assert!(
                !has("shutdown-sessions"),
                "{where_}: shutdown-sessions would cut miners the draining slave is moving itself"
            );
            let check_port = options
                .windows(2)
                .filter(|pair| pair[0] == "port")
                .map(|pair| pair[1].parse::<u16>().ok())
                .next_back()
                .flatten();
            assert_eq!(
                check_port,
                Some(slave.slave.http_bind.port()),
                "{where_}: checks must go to slave.http_bind ({})",
                slave.slave.http_bind
            );
            assert_reachable(&where_, "slave.http_bind", slave.slave.http_bind);
            if !slaves_seen.iter().any(|seen| std::ptr::eq(*seen, slave)) {
                slaves_seen.push(slave);
            }
        }
        door_frontends.extend(ports);
        for side in ["timeout client", "timeout server"] {
            let value = cfg
                .setting(backend, side)
                .or_else(|| cfg.setting(frontend, side))
                .and_then(|t| t.first().cloned())
                .unwrap_or_else(|| panic!("{where_}: no {side}"));
            for slave in &slaves_seen {
                assert!(
                    duration(&value, &where_) >= slave.security.idle_timeout,
                    "{where_}: {side} {value} cuts miners the slave keeps \
                     (security.idle_timeout {:?})",
                    slave.security.idle_timeout
                );
            }
        }
    }
    assert!(
        !slaves_seen.is_empty(),
        "{what}: no backend reaches a slave"
    );
    for slave in slaves_seen {
        assert_eq!(
            door_frontends,
            door_ports(slave),
            "{what}: the frontends must serve exactly the slave's doors {:?}",
            doors(slave)
        );
    }
    all_ports
}

// ---- the tests ----

/// Every YAML file under deploy/ is one the tests below read, so a new one
/// cannot go unchecked.
#[test]
fn every_yaml_file_under_deploy_is_checked() {
    let dir = deploy();
    for file in files_under(&dir).into_iter().filter(|f| is_yaml(f)) {
        let relative = file.strip_prefix(&dir).expect("under deploy/");
        let parent = relative.parent().and_then(Path::to_str).unwrap_or_default();
        assert!(
            relative == Path::new("compose.yaml") || parent == "compose" || parent == "k8s",
            "deploy/{}: no test reads it; put it under compose/ or k8s/, or check it in {}",
            relative.display(),
            file!()
        );
    }
}

/// A compose service that runs a pool role.
struct PoolService {
    name: String,
    role: Role,
    config: Config,
    env: BTreeMap<String, String>,
}

/// `${NAME:-default}` → `default`, as compose would with NAME unset.
fn interpolate(value: &str, what: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .unwrap_or_else(|| panic!("{what}: unclosed ${{ in {value:?}"));
        let inner = &rest[start + 2..end];
        let (_, default) = inner
            .split_once(":-")
            .unwrap_or_else(|| panic!("{what}: ${{{inner}}} needs a default (${{NAME:-value}})"));
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn compose_env(service: &Value, what: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    match &service["environment"] {
        Value::Mapping(vars) => {
            for (name, value) in vars {
                env.insert(text(name), interpolate(&text(value), what));
            }
        }
        Value::Sequence(vars) => {
            for var in vars {
                let var = text(var);
                let (name, value) = var.split_once('=').unwrap_or((&var, ""));
                env.insert(name.to_string(), interpolate(value, what));
            }
        }
        _ => {}
    }
    env
}

/// `[ip:]host_port:container_port[/proto]` → host port (if given) and
/// container port.
fn published_port(entry: &str, what: &str) -> (Option<u16>, u16) {
    let ports: Vec<&str> = entry
        .split('/')
        .next()
        .unwrap_or_default()
        .split(':')
        .collect();
    let port = |text: &str| -> u16 {
        text.parse()
            .unwrap_or_else(|_| panic!("{what}: cannot read the port {entry:?}"))
    };
    match ports.as_slice() {
        [container] => (None, port(container)),
        [.., host, container] => (Some(port(host)), port(container)),
        [] => panic!("{what}: empty port {entry:?}"),
    }
}

/// The container ports a compose service publishes.
fn published_ports(service: &Value, what: &str) -> BTreeSet<u16> {
    strings(&service["ports"])
        .iter()
        .map(|entry| published_port(entry, what).1)
        .collect()
}

/// The `--bind` port of an emulator's command, which must listen beyond
/// loopback.
fn command_bind_port(service: &Value, what: &str) -> u16 {
    let command = strings(&service["command"]);
    let bind = command
        .windows(2)
        .find(|pair| pair[0] == "--bind")
        .map(|pair| pair[1].clone())
        .unwrap_or_else(|| panic!("{what}: the command {command:?} has no --bind"));
    let addr: SocketAddr = bind
        .parse()
        .unwrap_or_else(|_| panic!("{what}: --bind {bind:?}"));
    assert_reachable(what, "--bind", addr);
    addr.port()
}

#[test]
fn compose_cluster_fits_its_configs() {
    let dir = deploy();
    let compose_path = dir.join("compose.yaml");
    let compose = yaml(&read(&compose_path), "deploy/compose.yaml");
    let services = mapping(&compose["services"], "compose services");
    let service = |name: &str| -> &Value {
        services
            .get(name)
            .unwrap_or_else(|| panic!("deploy/compose.yaml has no service {name:?}"))
    };
    let named_volumes: BTreeSet<String> = compose["volumes"]
        .as_mapping()
        .map(|v| v.keys().map(text).collect())
        .unwrap_or_default();

    // Every pool service, its config loaded for its role with its environment.
    let mut pool = Vec::new();
    let mut configs_used = BTreeSet::new();
    let mut state_volumes = BTreeSet::new();
    for (name, svc) in services {
        let name = text(name);
        let what = format!("compose service {name}");
        let command = strings(&svc["command"]);
        let Some(role) = command.first().and_then(|c| role_of(c)) else {
            continue;
        };
        let mounts: Vec<(String, String)> = strings(&svc["volumes"])
            .iter()
            .map(|v| {
                let mut parts = v.split(':');
                let source = parts.next().unwrap_or_default().to_string();
                let target = parts
                    .next()
                    .unwrap_or_else(|| panic!("{what}: volume {v:?} has no target"))
                    .to_string();
                (source, target)
            })
            .collect();
        let config_path = config_argument(&command, &what);
        let source = mounts
            .iter()
            .find(|(_, target)| *target == config_path)
            .map(|(source, _)| source.clone())
            .unwrap_or_else(|| panic!("{what}: nothing is mounted at {config_path}"));
        let file = dir.join(source.trim_start_matches("./"));
        configs_used.insert(file.clone());
        let env = compose_env(svc, &what);
        let env_pairs: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let config = load(
            &read(&file),
            &env_pairs,
            role,
            &format!("{} (for {what})", file.display()),
        );
        for (key, path) in config_files(&config, role) {
            assert!(
                mounts
                    .iter()
                    .any(|(_, target)| path.starts_with(target.as_str())),
                "{what}: {key} {} is on no mounted volume",
                path.display()
            );
        }
        // A killed slave keeps the shares it accepted, a master the blocks
        // Redis could not take: on a named volume of the service's own,
        // writable, not in the container.
        assert!(
            !state_dirs(&config, role).is_empty(),
            "{what}: no share journal or block spool configured"
        );
        for (key, dir) in state_dirs(&config, role) {
            let (source, target) = mounts
                .iter()
                .filter(|(_, target)| dir.starts_with(target.as_str()))
                .max_by_key(|(_, target)| target.len())
                .unwrap_or_else(|| {
                    panic!(
                        "{what}: {key} {} is on no volume and goes with the container",
                        dir.display()
                    )
                });
            assert!(
                named_volumes.contains(source),
                "{what}: {key} is on {source}, which is no named volume"
            );
            assert!(
                !strings(&svc["volumes"]).contains(&format!("{source}:{target}:ro")),
                "{what}: {key} is on a read-only mount"
            );
            assert!(
                state_volumes.insert(source.clone()),
                "{what}: {key} is on {source}, which another service uses too"
            );
        }
        pool.push(PoolService {
            name,
            role,
            config,
            env,
        });
    }
    let compose_dir_configs: BTreeSet<PathBuf> = files_under(&dir.join("compose"))
        .into_iter()
        .filter(|f| is_yaml(f))
        .collect();
    assert_eq!(
        configs_used, compose_dir_configs,
        "every YAML file in deploy/compose/ is the config of a compose service, and only those"
    );
    let masters: Vec<&PoolService> = pool.iter().filter(|s| s.role == Role::Master).collect();
    let slaves: Vec<&PoolService> = pool.iter().filter(|s| s.role == Role::Slave).collect();
    assert_eq!(masters.len(), 1, "one master");
    assert_eq!(slaves.len(), 2, "two slaves");
    let master = masters[0];

    // The certificates the configs read are the ones the certs service makes.
    let certs = service("certs");
    let script = strings(&certs["volumes"])
        .iter()
        .find(|v| v.ends_with(".sh:ro") || v.contains(".sh:"))
        .map(|v| {
            dir.join(
                v.split(':')
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("./"),
            )
        })
        .expect("the certs service mounts its script");
    let script = read(&script);
    for svc in &pool {
        for (key, path) in config_files(&svc.config, svc.role) {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            assert!(
                script.contains(name),
                "compose service {}: {key} {} is not made by the certs service",
                svc.name,
                path.display()
            );
        }
    }

    // The master: its gateway, API, daemon, wallet and Redis.
    let m = &master.config;
    let what = format!("compose service {}", master.name);
    assert_reachable(&what, "master.bind", m.master.bind);
    assert_reachable(&what, "api.bind", m.api.bind);
    let mut master_ports = BTreeSet::from([m.master.bind.port()]);
    if m.api.enabled {
        master_ports.insert(m.api.bind.port());
    }
    for port in published_ports(service(&master.name), &what) {
        assert!(
            master_ports.contains(&port),
            "{what} publishes {port}, which the master does not bind ({master_ports:?})"
        );
    }
    let mut daemon_urls: Vec<String> = m
        .node
        .effective_upstreams()
        .into_iter()
        .map(|u| u.url)
        .collect();
    daemon_urls.extend(m.payouts.wallet_rpc.clone());
    for url in daemon_urls {
        let (host, port) = host_port(&url);
        let target = service(&host);
        assert_eq!(
            command_bind_port(target, &format!("compose service {host}")),
            port,
            "{what}: {url} misses the port compose service {host} listens on"
        );
    }
    let (redis_host, redis_port) = host_port(&m.redis.url);
    let redis = service(&redis_host);
    assert!(
        text(&redis["image"]).starts_with("redis:"),
        "{what}: redis.url names {redis_host}, which is no Redis"
    );
    assert_eq!(redis_port, 6379, "{what}: redis.url port");
    let redis_command = strings(&redis["command"]).join(" ");
    for setting in ["--appendonly yes", "--appendfsync everysec"] {
        assert!(
            redis_command.contains(setting),
            "compose Redis: {setting} missing from {redis_command:?}"
        );
    }
    let data_volume = strings(&redis["volumes"])
        .iter()
        .find(|v| v.split(':').nth(1) == Some("/data"))
        .map(|v| v.split(':').next().unwrap_or_default().to_string())
        .expect("compose Redis: a volume on /data");
    assert!(
        named_volumes.contains(&data_volume),
        "compose Redis: /data is on {data_volume}, which is no named volume"
    );

    // The slaves: their master, their drain and their limits.
    let mut ids = BTreeSet::new();
    for slave in &slaves {
        let s = &slave.config;
        let what = format!("compose service {}", slave.name);
        let (host, port) = host_port(&s.slave.master_url);
        assert_eq!(
            host, master.name,
            "{what}: slave.master_url names no master"
        );
        assert_eq!(
            port,
            m.master.bind.port(),
            "{what}: slave.master_url port is not master.bind's"
        );
        assert!(
            script.contains(&format!("DNS:{host}")),
            "{what}: the master's certificate is not made for {host}"
        );
        assert_eq!(
            s.master.secret, m.master.secret,
            "{what}: master.secret differs from the master's"
        );
        assert!(
            ids.insert(s.slave.id.clone().unwrap_or_default()),
            "{what}: slave.id {:?} is not unique",
            s.slave.id
        );
        let svc = service(&slave.name);
        assert!(
            svc["ports"].is_null(),
            "{what}: publishes ports; miners must come through HAProxy"
        );
        let grace = svc["stop_grace_period"]
            .as_str()
            .map(|g| duration(g, &what))
            .unwrap_or(Duration::from_secs(10));
        assert_stop_covers_drain(
            &format!("{what}: stop_grace_period"),
            grace,
            Duration::ZERO,
            s,
        );
        let nofile = u64_of(
            &svc["ulimits"]["nofile"]["soft"],
            &format!("{what}: ulimits"),
        );
        assert_open_files_fit(&format!("{what}: ulimits.nofile"), nofile, s);
        assert!(
            slave.env.contains_key("TOS_POOL_SLAVE_ID"),
            "{what}: each slave needs its own TOS_POOL_SLAVE_ID"
        );
    }

    // HAProxy: in front of both slaves' doors, from the trusted network.
    let (haproxy_name, haproxy) = services
        .iter()
        .find(|(_, svc)| {
            svc["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("haproxy:"))
        })
        .expect("deploy/compose.yaml runs HAProxy");
    let what = format!("compose service {}", text(haproxy_name));
    let cfg_file = strings(&haproxy["volumes"])
        .iter()
        .find(|v| v.split(':').nth(1) == Some("/usr/local/etc/haproxy/haproxy.cfg"))
        .map(|v| {
            dir.join(
                v.split(':')
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("./"),
            )
        })
        .unwrap_or_else(|| panic!("{what} mounts no haproxy.cfg"));
    let cfg = Haproxy::parse(&read(&cfg_file));
    let frontends = check_haproxy(&cfg_file.display().to_string(), &cfg, |host| {
        slaves.iter().find(|s| s.name == host).map(|s| &s.config)
    });
    let published = published_ports(haproxy, &what);
    for entry in strings(&haproxy["ports"]) {
        let (host, container) = published_port(&entry, &what);
        assert_eq!(
            host,
            Some(container),
            "{what}: {entry:?}: miners use the doors' own port numbers on the host"
        );
    }
    assert_eq!(
        published, frontends,
        "{what}: publishes other ports than its frontends bind"
    );
    let networks = strings(&haproxy["networks"]);
    let subnets: BTreeSet<String> = networks
        .iter()
        .flat_map(|n| {
            compose["networks"][n.as_str()]["ipam"]["config"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| text(&c["subnet"]))
        .collect();
    assert!(
        !subnets.is_empty(),
        "{what}: on no network with a fixed subnet"
    );
    for slave in &slaves {
        let trusted: BTreeSet<String> =
            slave.config.slave.trusted_proxies.iter().cloned().collect();
        assert_eq!(
            trusted, subnets,
            "compose service {}: slave.trusted_proxies must be HAProxy's network",
            slave.name
        );
    }
}

// ---- Kubernetes ----

/// The manifests of deploy/k8s, by kind and name.
struct Manifests {
    objects: BTreeMap<(String, String), Value>,
}

impl Manifests {
    fn load() -> Manifests {
        let dir = deploy().join("k8s");
        let kustomization = yaml(&read(&dir.join("kustomization.yaml")), "kustomization.yaml");
        let listed: BTreeSet<String> = strings(&kustomization["resources"]).into_iter().collect();
        let present: BTreeSet<String> = files_under(&dir)
            .iter()
            .filter(|f| is_yaml(f))
            .filter_map(|f| f.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .filter(|n| n != "kustomization.yaml")
            .collect();
        assert_eq!(
            listed, present,
            "deploy/k8s/kustomization.yaml must list every manifest in deploy/k8s/"
        );
        let mut objects = BTreeMap::new();
        for file in &listed {
            for object in yaml_documents(&read(&dir.join(file)), file) {
                let key = (text(&object["kind"]), text(&object["metadata"]["name"]));
                assert!(
                    objects.insert(key.clone(), object).is_none(),
                    "{file}: {key:?} twice"
                );
            }
        }
        Manifests { objects }
    }

    fn get(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .get(&(kind.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("deploy/k8s has no {kind} {name}"))
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |((k, _), _)| k == kind)
            .map(|(_, v)| v)
    }

    /// The value of `key` in Secret `name`, or where cert-manager makes the
    /// Secret, a stand-in for one of its keys.
    fn secret_value(&self, name: &str, key: &str) -> String {
        if let Some(secret) = self.objects.get(&("Secret".to_string(), name.to_string())) {
            return secret["stringData"][key]
                .as_str()
                .unwrap_or_else(|| panic!("Secret {name} has no stringData key {key}"))
                .to_string();
        }
        let made = self
            .of_kind("Certificate")
            .any(|c| c["spec"]["secretName"].as_str() == Some(name));
        assert!(made, "no Secret {name}, and no Certificate makes one");
        assert!(
            ["tls.crt", "tls.key", "ca.crt"].contains(&key),
            "a cert-manager Secret ({name}) has no key {key}"
        );
        format!("<{name}/{key}>")
    }
}

/// Whether `selector` (matchLabels, or a Service's plain selector) selects
/// pods labelled `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.get("matchLabels").unwrap_or(selector).as_mapping();
    selector.is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// A workload's first container, with what the tests need of its pod.
struct Workload<'a> {
    what: String,
    pod: &'a Value,
    container: &'a Value,
}

impl<'a> Workload<'a> {
    fn new(kind: &str, object: &'a Value) -> Workload<'a> {
        let pod = &object["spec"]["template"]["spec"];
        Workload {
            what: format!("{kind} {}", text(&object["metadata"]["name"])),
            pod,
            container: &pod["containers"][0],
        }
    }

    fn labels(&self, object: &'a Value) -> &'a Value {
        &object["spec"]["template"]["metadata"]["labels"]
    }

    fn command(&self) -> Vec<String> {
        let mut command = strings(&self.container["command"]);
        command.extend(strings(&self.container["args"]));
        command
    }

    /// Container port by name or number → number.
    fn port(&self, port: &Value) -> u16 {
        let ports = self.container["ports"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        let found = match port {
            Value::Number(n) => ports
                .iter()
                .find(|p| p["containerPort"].as_u64() == n.as_u64()),
            Value::String(name) => ports.iter().find(|p| p["name"].as_str() == Some(name)),
            _ => None,
        };
        found
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("{}: no container port {port:?}", self.what))
    }

    fn ports(&self) -> BTreeSet<u16> {
        self.container["ports"]
            .as_sequence()
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| self.port(&p["containerPort"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn volume(&self, name: &str) -> &'a Value {
        self.pod["volumes"]
            .as_sequence()
            .and_then(|vs| vs.iter().find(|v| v["name"].as_str() == Some(name)))
            .unwrap_or_else(|| panic!("{}: no volume {name}", self.what))
    }

    /// The volume of the writable mount that holds directory `dir` (the
    /// deepest mount above it).
    fn state_volume(&self, dir: &Path) -> Option<&'a Value> {
        let mounts = self.container["volumeMounts"].as_sequence()?;
        let mount = mounts
            .iter()
            .filter(|mount| {
                mount["mountPath"]
                    .as_str()
                    .is_some_and(|at| dir.starts_with(at))
            })
            .max_by_key(|mount| mount["mountPath"].as_str().map_or(0, str::len))?;
        if mount["readOnly"].as_bool() == Some(true) {
            return None;
        }
        Some(self.volume(mount["name"].as_str()?))
    }

    /// The volume and key that put a file at `path` (a mount of the
    /// directory, each item a file).
    fn file_source(&self, path: &Path) -> Option<(&'a Value, String)> {
        let mounts = self.container["volumeMounts"].as_sequence()?;
        mounts.iter().find_map(|mount| {
            let relative = path.strip_prefix(mount["mountPath"].as_str()?).ok()?;
            let volume = self.volume(mount["name"].as_str()?);
            let source = volume.get("configMap").or_else(|| volume.get("secret"))?;
            let key = match source["items"].as_sequence() {
                Some(items) => items.iter().find_map(|item| {
                    (Path::new(item["path"].as_str()?) == relative).then(|| text(&item["key"]))
                })?,
                None => relative.to_str()?.to_string(),
            };
            Some((volume, key))
        })
    }

    /// `TOS_POOL_*` variables with their values from Secrets and the pod.
    fn pool_env(&self, manifests: &Manifests) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for var in self.container["env"].as_sequence().into_iter().flatten() {
            let name = text(&var["name"]);
            let from = &var["valueFrom"];
            let value = if let Some(value) = var.get("value") {
                text(value)
            } else if let Some(secret) = from.get("secretKeyRef") {
                manifests.secret_value(&text(&secret["name"]), &text(&secret["key"]))
            } else if from.get("fieldRef").is_some() {
                "pod-name-7f9c4".to_string()
            } else {
                panic!("{}: {name} has no value this test can read", self.what)
            };
            if name.starts_with("TOS_POOL_") {
                env.push((name, value));
            }
        }
        env
    }

    /// The pool config the container runs, loaded for its role.
    fn config(&self, manifests: &Manifests) -> (Role, Config) {
        let command = self.command();
        let role = command
            .first()
            .and_then(|c| role_of(c))
            .unwrap_or_else(|| panic!("{} runs no pool binary: {command:?}", self.what));
        let path = PathBuf::from(config_argument(&command, &self.what));
        let (volume, key) = self
            .file_source(&path)
            .unwrap_or_else(|| panic!("{}: nothing mounts {}", self.what, path.display()));
        let map = text(&volume["configMap"]["name"]);
        let config_text = manifests.get("ConfigMap", &map)["data"][key.as_str()]
            .as_str()
            .unwrap_or_else(|| panic!("{}: ConfigMap {map} has no {key}", self.what))
            .to_string();
        let config = load(
            &config_text,
            &self.pool_env(manifests),
            role,
            &format!("ConfigMap {map} {key} (for {})", self.what),
        );
        for (config_key, file) in config_files(&config, role) {
            let (volume, key) = self.file_source(&file).unwrap_or_else(|| {
                panic!(
                    "{}: {config_key} {} is on no volume",
                    self.what,
                    file.display()
                )
            });
            let secret = text(&volume["secret"]["secretName"]);
            manifests.secret_value(&secret, &key);
        }
        (role, config)
    }

    /// The httpGet probe `kind`: its path and port number.
    fn http_probe(&self, kind: &str) -> (String, u16) {
        let get = &self.container[kind]["httpGet"];
        assert!(get.is_mapping(), "{}: no {kind} httpGet", self.what);
        (text(&get["path"]), self.port(&get["port"]))
    }
}

#[test]
fn kubernetes_manifests_fit_their_configs() {
    let manifests = Manifests::load();
    let mut master = None;
    let mut slave = None;
    for object in manifests.of_kind("Deployment") {
        let workload = Workload::new("Deployment", object);
        let (role, config) = workload.config(&manifests);
        let found = (object, workload, config);
        match role {
            Role::Master => assert!(master.replace(found).is_none(), "one master Deployment"),
            Role::Slave => assert!(slave.replace(found).is_none(), "one slave Deployment"),
        }
    }
    let (master_object, master, m) = master.expect("a master Deployment");
    let (slave_object, slave, s) = slave.expect("a slave Deployment");
    // The master's block spool outlives the pod (a claim); each slave's
    // journal lives on its pod's own volume, through container restarts.
    for (workload, config, role) in [(&master, &m, Role::Master), (&slave, &s, Role::Slave)] {
        let what = &workload.what;
        assert!(
            !state_dirs(config, role).is_empty(),
            "{what}: no share journal or block spool configured"
        );
        for (key, dir) in state_dirs(config, role) {
            let volume = workload.state_volume(&dir).unwrap_or_else(|| {
                panic!("{what}: {key} {} is on no writable volume", dir.display())
            });
            match role {
                Role::Master => {
                    let claim = text(&volume["persistentVolumeClaim"]["claimName"]);
                    assert!(
                        manifests
                            .of_kind("PersistentVolumeClaim")
                            .any(|pvc| text(&pvc["metadata"]["name"]) == claim),
                        "{what}: {key} is on no PersistentVolumeClaim of the manifests"
                    );
                }
                Role::Slave => assert!(
                    volume.get("emptyDir").is_some()
                        || volume.get("persistentVolumeClaim").is_some(),
                    "{what}: {key} is on neither the pod's emptyDir nor a claim"
                ),
            }
        }
    }
    let pdb_for = |labels: &Value| {
        manifests
            .of_kind("PodDisruptionBudget")
            .find(|pdb| selects(&pdb["spec"]["selector"], labels))
    };

    // The master: one, never two at once, not evicted in passing.
    let what = &master.what;
    assert_eq!(
        master_object["spec"]["replicas"].as_u64(),
        Some(1),
        "{what}: one replica"
    );
    assert_eq!(
        master_object["spec"]["strategy"]["type"].as_str(),
        Some("Recreate"),
        "{what}: two masters must never run at once"
    );
    let master_labels = master.labels(master_object);
    let pdb = pdb_for(master_labels).unwrap_or_else(|| panic!("{what}: no PodDisruptionBudget"));
    assert!(
        pdb["spec"]["maxUnavailable"].as_u64() == Some(0)
            || pdb["spec"]["minAvailable"].as_u64() == Some(1),
        "{what}: its PodDisruptionBudget must keep the one master"
    );
    assert_reachable(what, "master.bind", m.master.bind);
    let mut bound = BTreeSet::from([m.master.bind.port()]);
    if m.api.enabled {
        assert_reachable(what, "api.bind", m.api.bind);
        bound.insert(m.api.bind.port());
    }
    assert_eq!(
        master.ports(),
        bound,
        "{what}: container ports are the master's binds"
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        let probe_port = &master.container[probe]["tcpSocket"]["port"];
        let probe_port = if probe_port.is_null() {
            &master.container[probe]["httpGet"]["port"]
        } else {
            probe_port
        };
        assert!(
            bound.contains(&master.port(probe_port)),
            "{what}: {probe} probes a port the master does not bind"
        );
    }

    // The slaves reach the master's Service by the name its certificate has.
    let (host, port) = host_port(&s.slave.master_url);
    let service_name = host.split('.').next().unwrap_or_default();
    let service = manifests.get("Service", service_name);
    assert!(
        selects(&service["spec"]["selector"], master_labels),
        "Service {service_name} (slave.master_url) does not select the master"
    );
    let gateway = service["spec"]["ports"]
        .as_sequence()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["port"].as_u64() == Some(u64::from(port)))
        })
        .unwrap_or_else(|| panic!("Service {service_name} has no port {port} (slave.master_url)"));
    assert_eq!(
        master.port(&gateway["targetPort"]),
        m.master.bind.port(),
        "Service {service_name}: port {port} does not lead to master.bind"
    );
    for service_port in service["spec"]["ports"].as_sequence().into_iter().flatten() {
        assert!(bound.contains(&master.port(&service_port["targetPort"])));
    }
    let gateway_tls = m.master.tls_cert.as_ref().expect("the gateway serves TLS");
    let (volume, _) = master
        .file_source(gateway_tls)
        .expect("master.tls_cert is mounted");
    let secret = text(&volume["secret"]["secretName"]);
    let certificate = manifests
        .of_kind("Certificate")
        .find(|c| c["spec"]["secretName"].as_str() == Some(&secret));
    if let Some(certificate) = certificate {
        assert!(
            strings(&certificate["spec"]["dnsNames"]).contains(&host),
            "the gateway's certificate is not made for {host} (slave.master_url)"
        );
    }
    let ca = s.slave.master_ca.as_ref().expect("slave.master_ca");
    let (volume, _) = slave.file_source(ca).expect("slave.master_ca is mounted");
    assert_eq!(
        text(&volume["secret"]["secretName"]),
        secret,
        "slave.master_ca is not the CA of the master's certificate"
    );
    assert_eq!(s.master.secret, m.master.secret, "master.secret differs");

    // Redis: the Service in redis.url, persistent, append-only.
    let (redis_host, redis_port) = host_port(&m.redis.url);
    let redis_service = manifests.get("Service", redis_host.split('.').next().unwrap_or_default());
    let redis_object = manifests
        .of_kind("StatefulSet")
        .find(|st| {
            text(&st["spec"]["serviceName"]) == text(&redis_service["metadata"]["name"])
                && selects(
                    &redis_service["spec"]["selector"],
                    &st["spec"]["template"]["metadata"]["labels"],
                )
        })
        .expect("a Redis StatefulSet behind redis.url's Service");
    let redis = Workload::new("StatefulSet", redis_object);
    let redis_service_port = redis_service["spec"]["ports"]
        .as_sequence()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["port"].as_u64() == Some(u64::from(redis_port)))
        })
        .expect("redis.url's port on the Redis Service");
    assert_eq!(redis.port(&redis_service_port["targetPort"]), 6379);
    let args = redis.command().join(" ");
    for setting in ["--appendonly yes", "--appendfsync everysec"] {
        assert!(args.contains(setting), "{}: {setting} missing", redis.what);
    }
    let claims: Vec<String> = redis_object["spec"]["volumeClaimTemplates"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|claim| text(&claim["metadata"]["name"]))
        .collect();
    let data_mount = redis.container["volumeMounts"]
        .as_sequence()
        .and_then(|ms| ms.iter().find(|m| m["mountPath"].as_str() == Some("/data")))
        .expect("Redis mounts /data");
    assert!(
        claims.contains(&text(&data_mount["name"])),
        "{}: /data is not a persistent volume claim",
        redis.what
    );
    if let Some(var) = args
        .split_whitespace()
        .skip_while(|a| *a != "--requirepass")
        .nth(1)
    {
        let var = var.trim_start_matches("$(").trim_end_matches(')');
        let source = |workload: &Workload<'_>, name: &str| {
            workload.container["env"]
                .as_sequence()
                .and_then(|vs| vs.iter().find(|v| v["name"].as_str() == Some(name)))
                .map(|v| v["valueFrom"]["secretKeyRef"].clone())
                .unwrap_or_else(|| panic!("{}: no {name}", workload.what))
        };
        assert_eq!(
            source(&master, "TOS_POOL_REDIS_PASSWORD"),
            source(&redis, var),
            "the master's redis.password is not Redis's requirepass"
        );
    }

    // The slaves: doors, probes, drain, scaling.
    let what = &slave.what;
    let http = s.slave.http_bind;
    assert_reachable(what, "slave.http_bind", http);
    let mut expected = door_ports(&s);
    expected.insert(http.port());
    assert_eq!(
        slave.ports(),
        expected,
        "{what}: container ports are the slave's doors and http_bind"
    );
    assert_eq!(
        slave.http_probe("livenessProbe"),
        ("/healthz".to_string(), http.port()),
        "{what}: liveness is /healthz on slave.http_bind"
    );
    assert_eq!(
        slave.http_probe("readinessProbe"),
        ("/readyz".to_string(), http.port()),
        "{what}: readiness is /readyz on slave.http_bind"
    );
    let pre_stop = &slave.container["lifecycle"]["preStop"];
    let pre_stop = pre_stop["sleep"]["seconds"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: no preStop sleep"));
    let grace = slave.pod["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap_or(30);
    assert_stop_covers_drain(
        &format!("{what}: terminationGracePeriodSeconds"),
        Duration::from_secs(grace),
        Duration::from_secs(pre_stop),
        &s,
    );
    let slave_labels = slave.labels(slave_object);
    assert!(
        pdb_for(slave_labels).is_some(),
        "{what}: no PodDisruptionBudget"
    );
    let slave_name = text(&slave_object["metadata"]["name"]);
    let hpa = manifests
        .of_kind("HorizontalPodAutoscaler")
        .find(|h| {
            h["spec"]["scaleTargetRef"]["kind"].as_str() == Some("Deployment")
                && text(&h["spec"]["scaleTargetRef"]["name"]) == slave_name
        })
        .unwrap_or_else(|| panic!("{what}: no HorizontalPodAutoscaler"));
    assert!(
        hpa["spec"]["minReplicas"].as_u64().unwrap_or(1) >= 2,
        "{what}: a draining slave needs another to take its miners"
    );
    let balancer = manifests
        .of_kind("Service")
        .find(|svc| {
            svc["spec"]["type"].as_str() == Some("LoadBalancer")
                && selects(&svc["spec"]["selector"], slave_labels)
        })
        .unwrap_or_else(|| panic!("{what}: no LoadBalancer Service"));
    let forwarded: BTreeSet<u16> = balancer["spec"]["ports"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|p| {
            let target = slave.port(&p["targetPort"]);
            assert_eq!(
                p["port"].as_u64(),
                Some(u64::from(target)),
                "{what}: the balancer's port differs from the door's"
            );
            target
        })
        .collect();
    assert_eq!(
        forwarded,
        door_ports(&s),
        "{what}: the LoadBalancer must forward exactly the slave's doors {:?}",
        doors(&s)
    );
    // Each miner's own address reaches the slave one way or the other.
    if balancer["spec"]["externalTrafficPolicy"].as_str() == Some("Local") {
        assert!(
            !s.slave.proxy_protocol,
            "{what}: externalTrafficPolicy Local sends no PROXY header, so proxy_protocol must be off"
        );
    } else {
        let annotations = balancer["metadata"]["annotations"]
            .as_mapping()
            .map(|a| a.keys().map(text).collect::<Vec<_>>())
            .unwrap_or_default();
        assert!(
            s.slave.proxy_protocol && annotations.iter().any(|a| a.contains("proxy-protocol")),
            "{what}: without externalTrafficPolicy Local, the balancer must send PROXY headers \
             (an annotation) and the slave must read them (slave.proxy_protocol)"
        );
    }
}

// ---- bare metal ----

/// A config of config/ with the secret an `EnvironmentFile` would add.
fn example_config(role: Role, env: &[(String, String)]) -> Config {
    let name = match role {
        Role::Master => "master.yaml",
        Role::Slave => "slave.yaml",
    };
    let mut env = env.to_vec();
    env.push(("TOS_POOL_MASTER_SECRET".to_string(), SECRET.to_string()));
    let path = repo().join("config").join(name);
    load(&read(&path), &env, role, &path.display().to_string())
}

#[test]
fn bare_metal_haproxy_fronts_the_example_slave() {
    let slave = example_config(Role::Slave, &[]);
    let path = deploy().join("haproxy/haproxy.cfg");
    let cfg = Haproxy::parse(&read(&path));
    check_haproxy(&path.display().to_string(), &cfg, |_| Some(&slave));
}

/// The `[Service]` settings of a unit: key → every value, in order.
fn unit_settings(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_service = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service
            && !line.starts_with('#')
            && let Some((key, value)) = line.split_once('=')
        {
            settings
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
    }
    settings
}

#[test]
fn systemd_units_are_hardened_and_fit_the_example_configs() {
    for role in [Role::Master, Role::Slave] {
        let (binary, unit_name) = match role {
            Role::Master => (MASTER_BINARY, "tos-pool-master.service"),
            Role::Slave => (SLAVE_BINARY, "tos-pool-slave.service"),
        };
        let what = format!("deploy/systemd/{unit_name}");
        let unit = unit_settings(&read(&deploy().join("systemd").join(unit_name)));
        let one = |key: &str| -> String {
            unit.get(key)
                .and_then(|v| v.last().cloned())
                .unwrap_or_else(|| panic!("{what}: no {key}="))
        };
        for (key, value) in [
            ("DynamicUser", "yes"),
            ("ProtectSystem", "strict"),
            ("NoNewPrivileges", "yes"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("RestrictSUIDSGID", "yes"),
            ("CapabilityBoundingSet", ""),
        ] {
            assert_eq!(one(key), value, "{what}: {key}");
        }
        assert!(!one("StateDirectory").is_empty(), "{what}: StateDirectory");
        let exec: Vec<String> = one("ExecStart")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        assert_eq!(
            exec.first().and_then(|b| b.rsplit('/').next()),
            Some(binary),
            "{what}: ExecStart"
        );
        let config_name = Path::new(&config_argument(&exec, &what))
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string);
        assert_eq!(
            config_name.as_deref(),
            Some(if role == Role::Master {
                "master.yaml"
            } else {
                "slave.yaml"
            }),
            "{what}: runs the example config of config/"
        );
        // Environment= overrides; %d is the service's credentials directory.
        let credentials = format!("/run/credentials/{unit_name}");
        let env: Vec<(String, String)> = unit
            .get("Environment")
            .into_iter()
            .flatten()
            .map(|assignment| {
                let (name, value) = assignment
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{what}: Environment={assignment}"));
                (name.to_string(), value.replace("%d", &credentials))
            })
            .collect();
        let config = example_config(role, &env);
        let loaded: BTreeSet<String> = unit
            .get("LoadCredential")
            .into_iter()
            .flatten()
            .map(|c| c.split(':').next().unwrap_or_default().to_string())
            .collect();
        for (key, path) in config_files(&config, role) {
            if let Ok(name) = path.strip_prefix(&credentials) {
                assert!(
                    loaded.contains(name.to_str().unwrap_or_default()),
                    "{what}: {key} reads credential {}, which no LoadCredential= loads",
                    name.display()
                );
            }
        }
        let nofile: u64 = one("LimitNOFILE")
            .parse()
            .unwrap_or_else(|_| panic!("{what}: LimitNOFILE"));
        match role {
            Role::Master => {
                let needed = u64::from(config.master.max_connections)
                    + u64::from(config.http.max_connections)
                    + 1_000;
                assert!(nofile >= needed, "{what}: LimitNOFILE below {needed}");
            }
            Role::Slave => {
                assert_open_files_fit(&format!("{what}: LimitNOFILE"), nofile, &config);
                assert_eq!(one("KillSignal"), "SIGTERM", "{what}: SIGTERM drains");
                assert_stop_covers_drain(
                    &format!("{what}: TimeoutStopSec"),
                    duration(&one("TimeoutStopSec"), &what),
                    Duration::ZERO,
                    &config,
                );
                assert!(
                    one("ExecReload").contains("-HUP"),
                    "{what}: reload is SIGHUP (the doors' certificate)"
                );
            }
        }
    }
}

#[test]
fn dockerfile_builds_locked_and_runs_unprivileged() {
    let text = read(&deploy().join("Dockerfile"));
    assert!(
        text.contains("cargo build --release --locked"),
        "deploy/Dockerfile: build with the lock file"
    );
    let stages: Vec<&str> = text.split("\nFROM ").skip(1).collect();
    let runtime = stages.last().expect("deploy/Dockerfile has stages");
    let user = runtime
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("the runtime stage sets USER");
    assert!(
        !matches!(user.split(':').next(), Some("root" | "0")),
        "deploy/Dockerfile: the runtime runs as {user}"
    );
    // The targets the compose file builds exist.
    let compose = yaml(&read(&deploy().join("compose.yaml")), "deploy/compose.yaml");
    for svc in mapping(&compose["services"], "services").values() {
        if let Some(target) = svc["build"]["target"].as_str() {
            assert!(
                stages.iter().any(|s| s
                    .lines()
                    .next()
                    .is_some_and(|l| l.ends_with(&format!(" AS {target}")))),
                "deploy/Dockerfile has no target {target} (deploy/compose.yaml builds it)"
            );
        }
    }
    // The example configs' state directories exist in the image, owned by
    // the user it runs as (a volume mounted there takes that owner).
    for (role, config) in [
        (Role::Slave, example_config(Role::Slave, &[])),
        (Role::Master, example_config(Role::Master, &[])),
    ] {
        for (key, dir) in state_dirs(&config, role) {
            let top = dir
                .strip_prefix("/var/lib")
                .ok()
                .and_then(|rest| rest.components().next())
                .and_then(|first| first.as_os_str().to_str())
                .unwrap_or_else(|| {
                    panic!("config/: {key} {} is not under /var/lib", dir.display())
                });
            assert!(
                text.contains(&format!("/state/{top}")),
                "deploy/Dockerfile: no /state/{top} made for {key}"
            );
        }
    }
    assert!(
        runtime.contains("COPY --from=build --chown=65532:65532 /state/ /var/lib/"),
        "deploy/Dockerfile: the state directories go to /var/lib, owned by the runtime user"
    );
    // It exposes the example configs' listeners.
    let exposed: BTreeSet<u16> = runtime
        .lines()
        .filter_map(|l| l.strip_prefix("EXPOSE "))
        .flat_map(|l| l.split_whitespace().filter_map(|p| p.parse().ok()))
        .collect();
    let slave = example_config(Role::Slave, &[]);
    let master = example_config(Role::Master, &[]);
    let mut listeners = door_ports(&slave);
    listeners.extend([
        slave.slave.http_bind.port(),
        master.master.bind.port(),
        master.api.bind.port(),
    ]);
    assert!(
        listeners.is_subset(&exposed),
        "deploy/Dockerfile exposes {exposed:?}, not every listener of config/ {listeners:?}"
    );
}
