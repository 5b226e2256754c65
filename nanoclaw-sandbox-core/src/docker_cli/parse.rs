//! Reading a docker command line as the docker CLI (pflag) reads it.

use super::flags::{by_long, by_short, Flag, BUILD_FLAGS, GLOBAL_FLAGS, RUN_FLAGS};

/// The command word of `docker build`.
const BUILD: &str = "build";

/// Why a `docker run`/`docker create`/`docker build` line could not be read. The messages
/// are the docker CLI's own (pflag's), so a caller sees what docker says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A long flag that takes a value came last.
    #[error("flag needs an argument: --{flag}\n{}", usage(command))]
    MissingValue {
        /// The flag.
        flag: String,
        /// `run`, `create` or `build`.
        command: &'static str,
    },
    /// A short flag that takes a value came last.
    #[error("flag needs an argument: '{flag}' in -{flag}\n{}", usage(command))]
    MissingShortValue {
        /// The letter.
        flag: char,
        /// The group it was in (`it` of `-it`).
        group: String,
        /// `run`, `create` or `build`.
        command: &'static str,
    },
    /// A long flag docker does not have (without `=VALUE`: whether the next
    /// argument is its value cannot be known).
    #[error("unknown flag: --{flag}\n{}", usage(command))]
    UnknownFlag {
        /// The flag.
        flag: String,
        /// `run`, `create` or `build`.
        command: &'static str,
    },
    /// A letter docker does not have.
    #[error("unknown shorthand flag: '{flag}' in -{flag}\n{}", usage(command))]
    UnknownShorthand {
        /// The letter.
        flag: char,
        /// The group it was in.
        group: String,
        /// `run`, `create` or `build`.
        command: &'static str,
    },
    /// No IMAGE.
    #[error(
        "docker: 'docker {command}' requires at least 1 argument\n{}",
        usage(command)
    )]
    MissingImage {
        /// `run`, `create` or `build`.
        command: &'static str,
    },
}

/// The usage lines the docker CLI prints after a flag error.
fn usage(command: &str) -> String {
    let arguments = if command == BUILD {
        "PATH | URL | -"
    } else {
        "IMAGE [COMMAND] [ARG...]"
    };
    format!(
        "\nUsage:  docker {command} [OPTIONS] {arguments}\n\n\
         Run 'docker {command} --help' for more information"
    )
}

/// `docker run` or `docker create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// `docker run` (or `docker container run`).
    Run,
    /// `docker create` (or `docker container create`).
    Create,
}

impl RunKind {
    /// The command word.
    pub fn word(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Create => "create",
        }
    }
}

/// Where a flag's value is in the option tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueAt {
    /// Inside token `token`, from byte `offset` (`--env=A`, `-eA`, `-e=A`).
    Attached {
        /// Index into [`RunInvocation::option_tokens`].
        token: usize,
        /// Byte offset of the value.
        offset: usize,
    },
    /// The whole token `token` (`--env A`).
    Whole {
        /// Index into [`RunInvocation::option_tokens`].
        token: usize,
    },
}

/// One flag as given (of a `run`, `create` or `build` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOption {
    /// The long name (without `--`), also for a short flag.
    pub name: String,
    /// The table entry; `None` for an unknown `--flag=value`, carried opaque.
    pub flag: Option<&'static Flag>,
    /// The value: the given one, or for a boolean `--rm=false` its text.
    pub value: Option<String>,
    /// Where the value is, if any.
    pub value_at: Option<ValueAt>,
}

/// A `docker [GLOBAL OPTIONS] [container] run|create [OPTIONS] IMAGE [COMMAND] [ARG...]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInvocation {
    /// `run` or `create`.
    pub kind: RunKind,
    /// The global options and the command word(s), as given.
    pub head: Vec<String>,
    /// The tokens holding the options, as given.
    pub option_tokens: Vec<String>,
    /// The options, in order.
    pub options: Vec<RunOption>,
    /// Whether `--` came before IMAGE.
    pub double_dash: bool,
    /// IMAGE.
    pub image: String,
    /// COMMAND and ARGs after IMAGE, untouched.
    pub command: Vec<String>,
}

/// The values of the flag called `long` among `options`, in order.
fn values_of<'a>(options: &'a [RunOption], long: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    options
        .iter()
        .filter(move |o| o.name == long)
        .filter_map(|o| o.value.as_deref())
}

impl RunInvocation {
    /// The values of the flag called `long` (short forms included), in order.
    pub fn values<'a>(&'a self, long: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        values_of(&self.options, long)
    }

    /// Whether the flag called `long` was given.
    pub fn has(&self, long: &str) -> bool {
        self.options.iter().any(|o| o.name == long)
    }

    /// The whole argument list again (after `docker`), as given.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = self.head.clone();
        out.extend(self.option_tokens.iter().cloned());
        if self.double_dash {
            out.push("--".into());
        }
        out.push(self.image.clone());
        out.extend(self.command.iter().cloned());
        out
    }
}

/// A `docker [GLOBAL OPTIONS] build|image build|builder build [OPTIONS] PATH | URL | -`
/// line. Flags may follow PATH (the docker CLI reads `build` so), so the
/// tokens are kept whole, in order, and the arguments are indices into them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInvocation {
    /// The global options and the command word(s), as given.
    pub head: Vec<String>,
    /// Every token after the command word, as given.
    pub tokens: Vec<String>,
    /// The options, in order (their [`ValueAt`]s index `tokens`).
    pub options: Vec<RunOption>,
    /// Where the arguments (not flags, not their values) are in `tokens`.
    /// The docker CLI takes exactly one, the context; it refuses others itself.
    pub arguments: Vec<usize>,
    /// Where `--` is in `tokens`, if given.
    pub double_dash: Option<usize>,
}

impl BuildInvocation {
    /// The values of the flag called `long` (short forms included), in order.
    pub fn values<'a>(&'a self, long: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        values_of(&self.options, long)
    }

    /// Whether the flag called `long` was given.
    pub fn has(&self, long: &str) -> bool {
        self.options.iter().any(|o| o.name == long)
    }

    /// The context (`PATH`, `URL` or `-`), when exactly one argument was given.
    pub fn context(&self) -> Option<&str> {
        match self.arguments.as_slice() {
            [at] => self.tokens.get(*at).map(String::as_str),
            _ => None,
        }
    }

    /// The whole argument list again (after `docker`), as given.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = self.head.clone();
        out.extend(self.tokens.iter().cloned());
        out
    }
}

/// What a docker command line is, as far as the shim cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerCommand {
    /// `run` or `create`: parsed.
    Run(RunInvocation),
    /// `build` (or `image build`, `builder build`): parsed.
    Build(BuildInvocation),
    /// `buildx build`: buildx's own flags, not read.
    BuildxBuild,
    /// Anything else (or global options the table does not know): passed through.
    Other,
}

/// Reads the arguments after `docker`.
pub fn parse(args: &[String]) -> Result<DockerCommand, ParseError> {
    let Some(i) = command_at(args) else {
        return Ok(DockerCommand::Other);
    };
    let Some(word) = args.get(i) else {
        return Ok(DockerCommand::Other);
    };
    let (kind, after) = match word.as_str() {
        "run" => (RunKind::Run, i + 1),
        "create" => (RunKind::Create, i + 1),
        "build" => {
            return parse_build(args[..=i].to_vec(), &args[i + 1..]).map(DockerCommand::Build)
        }
        "container" | "image" | "builder" | "buildx" => match args.get(i + 1).map(String::as_str) {
            Some("run") if word == "container" => (RunKind::Run, i + 2),
            Some("create") if word == "container" => (RunKind::Create, i + 2),
            Some("build") if word == "buildx" => return Ok(DockerCommand::BuildxBuild),
            Some("build") if word != "container" => {
                return parse_build(args[..i + 2].to_vec(), &args[i + 2..])
                    .map(DockerCommand::Build)
            }
            _ => return Ok(DockerCommand::Other),
        },
        _ => return Ok(DockerCommand::Other),
    };
    parse_run(kind, args[..after].to_vec(), &args[after..]).map(DockerCommand::Run)
}

/// Where the command word is, past the global options (pflag on the root
/// command stops at the first non-flag); `None` when a global option is
/// unknown (the line is then not read).
fn command_at(args: &[String]) -> Option<usize> {
    let mut i = 0;
    while let Some(token) = args.get(i) {
        if token == "--" || !token.starts_with('-') || token == "-" {
            break;
        }
        i += global_width(args, i)?;
    }
    Some(i)
}

/// Whether the line may remove containers or end their use: `rm`, `stop`,
/// `kill` (and their `container` forms), `container prune`, `system prune`.
/// After one, the `docker` drop-in looks whether its kept directory is
/// still used.
pub fn removes_containers(args: &[String]) -> bool {
    let Some(i) = command_at(args) else {
        return false;
    };
    let word = |at: usize| args.get(at).map(String::as_str);
    match word(i) {
        Some("rm" | "stop" | "kill") => true,
        Some("container") => matches!(
            word(i + 1),
            Some("rm" | "remove" | "stop" | "kill" | "prune")
        ),
        Some("system") => word(i + 1) == Some("prune"),
        _ => false,
    }
}

/// How many tokens the global option at `i` spans; `None` when unknown.
fn global_width(args: &[String], i: usize) -> Option<usize> {
    let token = &args[i];
    if let Some(long) = token.strip_prefix("--") {
        if long.contains('=') {
            return by_long(GLOBAL_FLAGS, long.split('=').next()?).map(|_| 1);
        }
        let flag = by_long(GLOBAL_FLAGS, long)?;
        return Some(if flag.takes_value { 2 } else { 1 });
    }
    let group = &token[1..];
    for (at, c) in group.char_indices() {
        let flag = by_short(GLOBAL_FLAGS, c)?;
        if flag.takes_value {
            let rest = &group[at + c.len_utf8()..];
            return Some(if rest.is_empty() { 2 } else { 1 });
        }
    }
    Some(1)
}

fn parse_run(
    kind: RunKind,
    head: Vec<String>,
    rest: &[String],
) -> Result<RunInvocation, ParseError> {
    let command = kind.word();
    let mut options = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut i = 0;
    let mut double_dash = false;
    while let Some(token) = rest.get(i) {
        if token == "--" {
            double_dash = true;
            i += 1;
            break;
        }
        if !token.starts_with('-') || token == "-" {
            break;
        }
        read_flag(RUN_FLAGS, command, rest, &mut i, &mut tokens, &mut options)?;
    }
    let Some(image) = rest.get(i) else {
        return Err(ParseError::MissingImage { command });
    };
    Ok(RunInvocation {
        kind,
        head,
        option_tokens: tokens,
        options,
        double_dash,
        image: image.clone(),
        command: rest[i + 1..].to_vec(),
    })
}

/// `build`'s flags may come after PATH too (pflag's interspersed mode, as
/// the docker CLI reads `build`): every token is read, flags and the
/// arguments between them, until `--`, after which all are arguments.
fn parse_build(head: Vec<String>, rest: &[String]) -> Result<BuildInvocation, ParseError> {
    let mut options = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut arguments = Vec::new();
    let mut double_dash = None;
    let mut i = 0;
    while let Some(token) = rest.get(i) {
        if double_dash.is_some() || !token.starts_with('-') || token == "-" {
            arguments.push(tokens.len());
            tokens.push(token.clone());
            i += 1;
            continue;
        }
        if token == "--" {
            double_dash = Some(tokens.len());
            tokens.push(token.clone());
            i += 1;
            continue;
        }
        read_flag(BUILD_FLAGS, BUILD, rest, &mut i, &mut tokens, &mut options)?;
    }
    Ok(BuildInvocation {
        head,
        tokens,
        options,
        arguments,
        double_dash,
    })
}

/// Reads the flag at `rest[*i]` (`--long`, `--long=value`, or a group of
/// short flags such as `-it` or `-eA=1`) against `table`: its tokens (the
/// flag, and its value when that is the next token) go to `tokens`, each
/// flag to `options`, and `*i` moves past them.
fn read_flag(
    table: &'static [Flag],
    command: &'static str,
    rest: &[String],
    i: &mut usize,
    tokens: &mut Vec<String>,
    options: &mut Vec<RunOption>,
) -> Result<(), ParseError> {
    let token = &rest[*i];
    let index = tokens.len();
    tokens.push(token.clone());
    *i += 1;
    if let Some(long) = token.strip_prefix("--") {
        let (name, attached) = match long.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (long, None),
        };
        let Some(flag) = by_long(table, name) else {
            return match attached {
                // Self-contained: carried through opaque.
                Some(value) => {
                    options.push(RunOption {
                        name: name.to_string(),
                        flag: None,
                        value: Some(value.to_string()),
                        value_at: Some(ValueAt::Attached {
                            token: index,
                            offset: name.len() + 3,
                        }),
                    });
                    Ok(())
                }
                None => Err(ParseError::UnknownFlag {
                    flag: name.to_string(),
                    command,
                }),
            };
        };
        let (value, value_at) = match attached {
            Some(value) => (
                Some(value.to_string()),
                Some(ValueAt::Attached {
                    token: index,
                    offset: name.len() + 3,
                }),
            ),
            None if flag.takes_value => {
                let Some(next) = rest.get(*i) else {
                    return Err(ParseError::MissingValue {
                        flag: name.to_string(),
                        command,
                    });
                };
                tokens.push(next.clone());
                *i += 1;
                (
                    Some(next.clone()),
                    Some(ValueAt::Whole { token: index + 1 }),
                )
            }
            None => (None, None),
        };
        options.push(RunOption {
            name: flag.long.to_string(),
            flag: Some(flag),
            value,
            value_at,
        });
        return Ok(());
    }
    // A group of short flags: `-it`, `-itd`, `-eA=1`, `-e=A=1`.
    let group = &token[1..];
    for (at, c) in group.char_indices() {
        let Some(flag) = by_short(table, c) else {
            return Err(ParseError::UnknownShorthand {
                flag: c,
                group: group.to_string(),
                command,
            });
        };
        let after = at + c.len_utf8();
        let rest_of_group = &group[after..];
        if flag.takes_value || rest_of_group.starts_with('=') {
            let (value, value_at) = if let Some(v) = rest_of_group.strip_prefix('=') {
                (
                    v.to_string(),
                    ValueAt::Attached {
                        token: index,
                        offset: 1 + after + 1,
                    },
                )
            } else if !rest_of_group.is_empty() {
                (
                    rest_of_group.to_string(),
                    ValueAt::Attached {
                        token: index,
                        offset: 1 + after,
                    },
                )
            } else {
                let Some(next) = rest.get(*i) else {
                    return Err(ParseError::MissingShortValue {
                        flag: c,
                        group: group.to_string(),
                        command,
                    });
                };
                tokens.push(next.clone());
                *i += 1;
                (next.clone(), ValueAt::Whole { token: index + 1 })
            };
            options.push(RunOption {
                name: flag.long.to_string(),
                flag: Some(flag),
                value: Some(value),
                value_at: Some(value_at),
            });
            break;
        }
        options.push(RunOption {
            name: flag.long.to_string(),
            flag: Some(flag),
            value: None,
            value_at: None,
        });
    }
    Ok(())
}
