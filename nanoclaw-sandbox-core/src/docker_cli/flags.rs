//! The docker CLI's own flag tables: which flags exist and which take a
//! value. Taken from `docker run --help`, `docker build --help` and `docker
//! --help` of Docker CLI 28.2 (`docker create` takes the same flags less
//! `-d`, `--detach-keys` and `--sig-proxy`, which the real CLI then refuses
//! itself).

/// One flag of the docker CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// The long name, without `--`.
    pub long: &'static str,
    /// The one-letter form, if any.
    pub short: Option<char>,
    /// Whether it takes a value (`--name NAME`); else it is a boolean
    /// (`--rm`, optionally `--rm=false`).
    pub takes_value: bool,
}

const fn value(long: &'static str, short: Option<char>) -> Flag {
    Flag {
        long,
        short,
        takes_value: true,
    }
}

const fn boolean(long: &'static str, short: Option<char>) -> Flag {
    Flag {
        long,
        short,
        takes_value: false,
    }
}

/// Every flag of `docker run` / `docker create`.
pub const RUN_FLAGS: &[Flag] = &[
    value("add-host", None),
    value("annotation", None),
    value("attach", Some('a')),
    value("blkio-weight", None),
    value("blkio-weight-device", None),
    value("cap-add", None),
    value("cap-drop", None),
    value("cgroup-parent", None),
    value("cgroupns", None),
    value("cidfile", None),
    value("cpu-count", None),
    value("cpu-percent", None),
    value("cpu-period", None),
    value("cpu-quota", None),
    value("cpu-rt-period", None),
    value("cpu-rt-runtime", None),
    value("cpu-shares", Some('c')),
    value("cpus", None),
    value("cpuset-cpus", None),
    value("cpuset-mems", None),
    boolean("detach", Some('d')),
    value("detach-keys", None),
    value("device", None),
    value("device-cgroup-rule", None),
    value("device-read-bps", None),
    value("device-read-iops", None),
    value("device-write-bps", None),
    value("device-write-iops", None),
    boolean("disable-content-trust", None),
    value("dns", None),
    value("dns-option", None),
    value("dns-opt", None),
    value("dns-search", None),
    value("domainname", None),
    value("entrypoint", None),
    value("env", Some('e')),
    value("env-file", None),
    value("expose", None),
    value("gpus", None),
    value("group-add", None),
    value("health-cmd", None),
    value("health-interval", None),
    value("health-retries", None),
    value("health-start-interval", None),
    value("health-start-period", None),
    value("health-timeout", None),
    boolean("help", None),
    value("hostname", Some('h')),
    boolean("init", None),
    boolean("interactive", Some('i')),
    value("io-maxbandwidth", None),
    value("io-maxiops", None),
    value("ip", None),
    value("ip6", None),
    value("ipc", None),
    value("isolation", None),
    value("kernel-memory", None),
    value("label", Some('l')),
    value("label-file", None),
    value("link", None),
    value("link-local-ip", None),
    value("log-driver", None),
    value("log-opt", None),
    value("mac-address", None),
    value("memory", Some('m')),
    value("memory-reservation", None),
    value("memory-swap", None),
    value("memory-swappiness", None),
    value("mount", None),
    value("name", None),
    value("net", None),
    value("net-alias", None),
    value("network", None),
    value("network-alias", None),
    boolean("no-healthcheck", None),
    boolean("oom-kill-disable", None),
    value("oom-score-adj", None),
    value("pid", None),
    value("pids-limit", None),
    value("platform", None),
    boolean("privileged", None),
    value("publish", Some('p')),
    boolean("publish-all", Some('P')),
    value("pull", None),
    boolean("quiet", Some('q')),
    boolean("read-only", None),
    value("restart", None),
    boolean("rm", None),
    value("runtime", None),
    value("security-opt", None),
    value("shm-size", None),
    boolean("sig-proxy", None),
    value("stop-signal", None),
    value("stop-timeout", None),
    value("storage-opt", None),
    value("sysctl", None),
    value("tmpfs", None),
    boolean("tty", Some('t')),
    value("ulimit", None),
    boolean("use-api-socket", None),
    value("user", Some('u')),
    value("userns", None),
    value("uts", None),
    value("volume", Some('v')),
    value("volume-driver", None),
    value("volumes-from", None),
    value("workdir", Some('w')),
];

/// Every flag of `docker build` (`image build`, `builder build`) as the
/// legacy builder of Docker CLI 28.2 has them (no buildx installed), plus the
/// hidden `--squash` and cobra's `-h`/`--help`.
pub const BUILD_FLAGS: &[Flag] = &[
    value("add-host", None),
    value("build-arg", None),
    value("cache-from", None),
    value("cgroup-parent", None),
    boolean("compress", None),
    value("cpu-period", None),
    value("cpu-quota", None),
    value("cpu-shares", Some('c')),
    value("cpuset-cpus", None),
    value("cpuset-mems", None),
    boolean("disable-content-trust", None),
    value("file", Some('f')),
    boolean("force-rm", None),
    boolean("help", Some('h')),
    value("iidfile", None),
    value("isolation", None),
    value("label", None),
    value("memory", Some('m')),
    value("memory-swap", None),
    value("network", None),
    boolean("no-cache", None),
    value("platform", None),
    boolean("pull", None),
    boolean("quiet", Some('q')),
    boolean("rm", None),
    value("security-opt", None),
    value("shm-size", None),
    boolean("squash", None),
    value("tag", Some('t')),
    value("target", None),
    value("ulimit", None),
];

/// The docker CLI's global options (before the command word).
pub const GLOBAL_FLAGS: &[Flag] = &[
    value("config", None),
    value("context", Some('c')),
    boolean("debug", Some('D')),
    value("host", Some('H')),
    value("log-level", Some('l')),
    boolean("tls", None),
    value("tlscacert", None),
    value("tlscert", None),
    value("tlskey", None),
    boolean("tlsverify", None),
    boolean("version", Some('v')),
    boolean("help", Some('h')),
];

/// The flag called `--long` in `table`.
pub fn by_long(table: &'static [Flag], long: &str) -> Option<&'static Flag> {
    table.iter().find(|f| f.long == long)
}

/// The flag called `-short` in `table`.
pub fn by_short(table: &'static [Flag], short: char) -> Option<&'static Flag> {
    table.iter().find(|f| f.short == Some(short))
}
