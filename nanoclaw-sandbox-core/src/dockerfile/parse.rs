//! Just enough of a Dockerfile parser to find instructions and stages
//! without disturbing anything else.
//!
//! Physical lines are kept byte for byte (line endings included), and edits
//! are insertions of whole lines after a given line, so comments, parser
//! directives, continuations, heredocs and CRLF endings survive untouched.
//! What it understands, as BuildKit does:
//! - parser directives (`# syntax=`, `# escape=`, `# check=`) at the very top;
//! - the escape character (`\` or `` ` ``) ending a line continues it;
//! - comment and blank lines inside a continued instruction are skipped;
//! - `RUN`/`COPY`/`ADD` heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`): their bodies
//!   are not instructions, even a line starting with `FROM`;
//! - instruction keywords in any case.
//!
//! On top of that it names what each stage's `FROM` and `COPY --from=`
//! refer to ([`Document::resolved_stages`]): `scratch`, an earlier stage (by
//! alias, in any case, or by index) or an outside image, with `$VAR`,
//! `${VAR}` and `${VAR:-default}` resolved from the build args and the
//! global `ARG` defaults.

use std::collections::BTreeMap;

use super::DockerfileError;

/// A physical line and the line ending it had (`"\n"`, `"\r\n"` or `""` at
/// the end of a file without a final newline).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub text: &'a str,
    pub ending: &'a str,
}

/// One instruction, possibly spanning several physical lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instruction {
    /// The keyword, uppercased.
    pub keyword: String,
    /// Everything after the keyword, continuations joined, trimmed.
    pub args: String,
    /// First physical line (0-based).
    pub first_line: usize,
    /// Last physical line of the instruction itself (before heredoc bodies).
    pub last_own_line: usize,
    /// Last physical line, heredoc bodies included.
    pub last_line: usize,
    /// The delimiters of the heredocs it opens (`RUN`, `COPY`, `ADD` only).
    pub heredocs: Vec<String>,
    /// Its last line ends with the escape character and the file ends
    /// (blank and comment lines aside): any line added after it joins it.
    pub open_continuation: bool,
    /// The escape character in effect.
    pub escape: char,
}

/// A parser directive at the top of the file (`# syntax=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    /// The name, lowercased.
    pub name: String,
    /// The value as written.
    pub value: String,
    /// Its physical line (0-based).
    pub line: usize,
}

/// A stage: its `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stage<'d> {
    pub from: &'d Instruction,
    pub body: &'d [Instruction],
}

/// A parsed Dockerfile.
#[derive(Debug)]
pub(crate) struct Document<'a> {
    pub lines: Vec<Line<'a>>,
    pub instructions: Vec<Instruction>,
    /// The parser directives in effect, in order.
    pub directives: Vec<Directive>,
    /// The ending inserted lines get: the file's first line ending.
    pub newline: &'a str,
}

const DIRECTIVES: &[&str] = &["syntax", "escape", "check"];
const HEREDOC_INSTRUCTIONS: &[&str] = &["RUN", "COPY", "ADD"];
const BOM: char = '\u{feff}';

impl<'a> Document<'a> {
    pub(crate) fn parse(text: &'a str) -> Result<Self, DockerfileError> {
        let lines = split_lines(text);
        let newline = lines
            .iter()
            .map(|l| l.ending)
            .find(|e| !e.is_empty())
            .unwrap_or("\n");
        let mut parser = Parser {
            lines: &lines,
            next: 0,
            escape: '\\',
        };
        let directives = parser.read_directives()?;
        let mut instructions = Vec::new();
        while let Some(instruction) = parser.next_instruction()? {
            instructions.push(instruction);
        }
        Ok(Document {
            lines,
            instructions,
            directives,
            newline,
        })
    }

    /// The stages, in order; instructions before the first `FROM` (global
    /// `ARG`s) belong to none.
    pub(crate) fn stages(&self) -> Vec<Stage<'_>> {
        let starts: Vec<usize> = (0..self.instructions.len())
            .filter(|&i| self.instructions[i].keyword == "FROM")
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(n, &start)| {
                let end = starts
                    .get(n + 1)
                    .copied()
                    .unwrap_or(self.instructions.len());
                Stage {
                    from: &self.instructions[start],
                    body: &self.instructions[start + 1..end],
                }
            })
            .collect()
    }

    /// The text with `insertions` (line index → lines to put after it, each
    /// given without an ending) applied. Untouched lines are copied as they were.
    pub(crate) fn render(&self, insertions: &BTreeMap<usize, Vec<String>>) -> String {
        self.render_edits(insertions, &BTreeMap::new())
    }

    /// [`render`](Self::render) with `replacements` too: an instruction's
    /// first line → (its last line, the one line it becomes). The replaced
    /// lines' comments and continuations go with it; the last replaced line's
    /// ending is kept, and insertions after a replaced line follow the new line.
    pub(crate) fn render_edits(
        &self,
        insertions: &BTreeMap<usize, Vec<String>>,
        replacements: &BTreeMap<usize, (usize, String)>,
    ) -> String {
        let mut out = String::new();
        let mut next = 0;
        while let Some(first) = self.lines.get(next) {
            // The text to write, and the physical line whose ending (and
            // insertions) it takes: the replaced instruction's last line.
            let (text, anchor) = match replacements.get(&next) {
                Some((last, new_line)) => (new_line.as_str(), (*last).max(next)),
                None => (first.text, next),
            };
            next = anchor + 1;
            let line = self.lines.get(anchor).unwrap_or(first);
            out.push_str(text);
            let Some(added) = insertions.get(&anchor).filter(|a| !a.is_empty()) else {
                out.push_str(line.ending);
                continue;
            };
            // Inserted lines take the anchor line's ending; a last line
            // without one keeps the file newline-less at its end.
            let ending = if line.ending.is_empty() {
                self.newline
            } else {
                line.ending
            };
            out.push_str(ending);
            for (n, new_line) in added.iter().enumerate() {
                out.push_str(new_line);
                let is_last = n + 1 == added.len();
                out.push_str(if is_last && line.ending.is_empty() {
                    ""
                } else {
                    ending
                });
            }
        }
        out
    }

    /// The leading whitespace of `line`, for inserted lines to match.
    pub(crate) fn indent_of(&self, line: usize) -> &'a str {
        let text = self.lines.get(line).map(|l| l.text).unwrap_or_default();
        let text = text.trim_start_matches(BOM);
        &text[..text.len() - text.trim_start().len()]
    }
}

impl Stage<'_> {
    /// The base image (or earlier stage) named by `FROM`, flags skipped.
    pub(crate) fn base(&self) -> &str {
        self.from
            .args
            .split_whitespace()
            .find(|word| !word.starts_with("--"))
            .unwrap_or_default()
    }

    /// The name given with `AS`, when there is one.
    pub(crate) fn alias(&self) -> Option<&str> {
        let mut words = self.from.args.split_whitespace();
        words.by_ref().find(|w| w.eq_ignore_ascii_case("as"))?;
        words.next()
    }
}

impl Instruction {
    /// The leading `--name[=value]` words as written, and the arguments
    /// after them (a `RUN`'s command, a `COPY`'s paths).
    pub(crate) fn split_flags(&self) -> (&str, &str) {
        let mut rest = self.args.trim_start();
        while rest.starts_with("--") {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            rest = rest[end..].trim_start();
        }
        (self.args[..self.args.len() - rest.len()].trim(), rest)
    }

    /// The leading `--name[=value]` flags: `(name, value)`, the value `None`
    /// for a bare `--name`.
    pub(crate) fn flags(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.split_flags()
            .0
            .split_whitespace()
            .filter_map(|word| word.strip_prefix("--"))
            .map(|flag| match flag.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (flag, None),
            })
    }

    /// The names an `ARG` declares (`ARG a b=1` → `a`, `b`); none for any
    /// other instruction.
    pub(crate) fn arg_names(&self) -> impl Iterator<Item = &str> {
        let words = if self.keyword == "ARG" {
            self.args.as_str()
        } else {
            ""
        };
        words
            .split_whitespace()
            .map(|word| word.split_once('=').map_or(word, |(name, _)| name))
    }

    /// The value of flag `--name=value`, when given.
    pub(crate) fn flag(&self, name: &str) -> Option<&str> {
        self.flags()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.unwrap_or_default())
    }
}

/// What a `FROM` or `COPY --from=` refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BaseRef {
    /// `scratch`: no image at all.
    Scratch,
    /// A stage of the same Dockerfile: an earlier one's alias, or a stage
    /// index (the engine refuses an index naming no earlier stage).
    Stage(usize),
    /// An image the engine must have, variables resolved.
    Image(String),
}

/// A reference that cannot be resolved before the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unresolved {
    /// The reference as written.
    pub reference: String,
    /// Why it cannot be resolved.
    pub reason: String,
}

/// A stage with what its `FROM` and its `COPY --from=` flags refer to.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedStage<'d> {
    pub stage: Stage<'d>,
    pub base: Result<BaseRef, Unresolved>,
    /// One per `COPY --from=`, in order.
    pub copy_from: Vec<Result<BaseRef, Unresolved>>,
}

impl Document<'_> {
    /// The global `ARG`s (those before the first `FROM`) with their values:
    /// the build arg given for the name, else the declared default (`""`
    /// when there is none). Build args for undeclared names are not used,
    /// as in Docker.
    pub(crate) fn global_args(
        &self,
        build_args: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut args = BTreeMap::new();
        let declarations = self
            .instructions
            .iter()
            .take_while(|i| i.keyword != "FROM")
            .filter(|i| i.keyword == "ARG")
            .flat_map(|i| i.args.split_whitespace());
        for declaration in declarations {
            let (name, default) = declaration.split_once('=').unwrap_or((declaration, ""));
            let value = build_args
                .get(name)
                .cloned()
                .unwrap_or_else(|| unquote(default).to_string());
            args.insert(name.to_string(), value);
        }
        args
    }

    /// Every stage with its references resolved against the global `ARG`s
    /// ([`global_args`](Self::global_args)) and the aliases of the stages
    /// before it (a stage's own alias does not count for its `FROM`:
    /// `FROM node AS node` names the image).
    pub(crate) fn resolved_stages(
        &self,
        build_args: &BTreeMap<String, String>,
    ) -> Vec<ResolvedStage<'_>> {
        let args = self.global_args(build_args);
        let mut aliases: Vec<Option<String>> = Vec::new();
        let mut resolved = Vec::new();
        for stage in self.stages() {
            let base = resolve_reference(stage.base(), &args, &aliases);
            // `COPY --from=` its own stage is a cycle the engine reports;
            // it names no image either.
            aliases.push(stage.alias().map(str::to_ascii_lowercase));
            let copy_from = stage
                .body
                .iter()
                .filter(|i| i.keyword == "COPY")
                .filter_map(|i| i.flag("from"))
                .map(|written| resolve_reference(written, &args, &aliases))
                .collect();
            resolved.push(ResolvedStage {
                stage,
                base,
                copy_from,
            });
        }
        resolved
    }
}

fn resolve_reference(
    written: &str,
    args: &BTreeMap<String, String>,
    earlier_aliases: &[Option<String>],
) -> Result<BaseRef, Unresolved> {
    let unresolved = |reason: String| Unresolved {
        reference: written.to_string(),
        reason,
    };
    let reference = substitute(written, args).map_err(unresolved)?;
    if reference.is_empty() {
        return Err(unresolved("it names no image".to_string()));
    }
    if reference.eq_ignore_ascii_case("scratch") {
        return Ok(BaseRef::Scratch);
    }
    let lowercase = reference.to_ascii_lowercase();
    if let Some(index) = earlier_aliases
        .iter()
        .position(|alias| alias.as_deref() == Some(lowercase.as_str()))
    {
        return Ok(BaseRef::Stage(index));
    }
    if reference.chars().all(|c| c.is_ascii_digit()) {
        if let Ok(index) = reference.parse() {
            return Ok(BaseRef::Stage(index));
        }
    }
    Ok(BaseRef::Image(reference))
}

fn unquote(value: &str) -> &str {
    ['"', '\'']
        .iter()
        .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
        .unwrap_or(value)
}

/// Resolves `$NAME`, `${NAME}` and `${NAME:-default}` in `text`; the error
/// says why it cannot.
fn substitute(text: &str, args: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (expression, remainder) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced
                    .find('}')
                    .ok_or_else(|| "an unclosed `${`".to_string())?;
                (&braced[..end], &braced[end + 1..])
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        let (name, default) = match expression.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expression, None),
        };
        let value = match (args.get(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => value.as_str(),
            (None, Some(default)) => default,
            (None, None) => return Err(format!("`{name}` has no value")),
        };
        out.push_str(value);
        rest = remainder;
    }
    out.push_str(rest);
    Ok(out)
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|piece| {
            let cut = if piece.ends_with("\r\n") {
                2
            } else if piece.ends_with('\n') {
                1
            } else {
                0
            };
            let (text, ending) = piece.split_at(piece.len() - cut);
            Line { text, ending }
        })
        .collect()
}

struct Parser<'l, 'a> {
    lines: &'l [Line<'a>],
    next: usize,
    escape: char,
}

impl<'a> Parser<'_, 'a> {
    /// A line as Docker's parser reads it: carriage returns before the line
    /// ending (or at the end of the file) dropped, as BuildKit's
    /// `trimNewline` drops every trailing `\r` and `\n`: a last line ending
    /// in the escape character and a carriage return, with no newline after
    /// it, continues, as it does with a CRLF ending.
    fn text(&self, index: usize) -> &'a str {
        let text = self.lines[index].text.trim_end_matches('\r');
        if index == 0 {
            text.trim_start_matches(BOM)
        } else {
            text
        }
    }

    /// Reads `# name=value` lines at the top; the first other line (even a
    /// blank one or an unknown directive) ends them, as in BuildKit.
    fn read_directives(&mut self) -> Result<Vec<Directive>, DockerfileError> {
        let mut seen: Vec<Directive> = Vec::new();
        while self.next < self.lines.len() {
            let Some((name, value)) = directive(self.text(self.next)) else {
                break;
            };
            if !DIRECTIVES.contains(&name.as_str()) || seen.iter().any(|d| d.name == name) {
                break;
            }
            if name == "escape" {
                self.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => return Err(DockerfileError::InvalidEscape { value }),
                };
            }
            seen.push(Directive {
                name,
                value,
                line: self.next,
            });
            self.next += 1;
        }
        Ok(seen)
    }

    fn is_skippable(&self, index: usize) -> bool {
        let trimmed = self.text(index).trim_start();
        trimmed.is_empty() || trimmed.starts_with('#')
    }

    fn next_instruction(&mut self) -> Result<Option<Instruction>, DockerfileError> {
        while self.next < self.lines.len() && self.is_skippable(self.next) {
            self.next += 1;
        }
        if self.next >= self.lines.len() {
            return Ok(None);
        }
        let first_line = self.next;
        let mut logical = String::new();
        let mut open_continuation = false;
        loop {
            let (content, continues) = strip_continuation(self.text(self.next), self.escape);
            logical.push_str(content);
            self.next += 1;
            if !continues {
                break;
            }
            while self.next < self.lines.len() && self.is_skippable(self.next) {
                self.next += 1;
            }
            if self.next >= self.lines.len() {
                open_continuation = true;
                break;
            }
        }
        let last_own_line = self.next - 1;
        let logical = logical.trim();
        let (keyword, args) = logical
            .split_once(char::is_whitespace)
            .unwrap_or((logical, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_string();
        let mut delimiters = Vec::new();
        if HEREDOC_INSTRUCTIONS.contains(&keyword.as_str()) {
            for heredoc in heredocs(&args) {
                self.skip_heredoc_body(&heredoc, first_line)?;
                delimiters.push(heredoc.delimiter);
            }
        }
        Ok(Some(Instruction {
            keyword,
            args,
            first_line,
            last_own_line,
            last_line: self.next - 1,
            heredocs: delimiters,
            open_continuation,
            escape: self.escape,
        }))
    }

    fn skip_heredoc_body(
        &mut self,
        heredoc: &Heredoc,
        instruction_line: usize,
    ) -> Result<(), DockerfileError> {
        while self.next < self.lines.len() {
            let text = self.text(self.next);
            self.next += 1;
            let text = if heredoc.strip_tabs {
                text.trim_start_matches('\t')
            } else {
                text
            };
            if text.trim_end() == heredoc.delimiter {
                return Ok(());
            }
        }
        Err(DockerfileError::UnterminatedHeredoc {
            line: instruction_line + 1,
            delimiter: heredoc.delimiter.clone(),
        })
    }
}

/// `# name = value` → (lowercased name, value).
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?;
    let (name, value) = rest.split_once('=')?;
    let name = name.trim();
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric());
    let value = value.trim();
    (well_formed && !value.is_empty()).then(|| (name.to_ascii_lowercase(), value.to_string()))
}

/// The line without its continuation marker, and whether it had one: the
/// escape character followed only by spaces or tabs.
fn strip_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(content) => (content, true),
        None => (line, false),
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Heredoc {
    delimiter: String,
    /// `<<-`: leading tabs are stripped from body lines and the delimiter.
    strip_tabs: bool,
}

/// The heredocs an instruction opens: `<<WORD`, `<<-WORD`, `<<"WORD"`,
/// `<<'WORD'` at the start of a shell word (after an optional fd number),
/// outside quotes, and not a here-string (`<<<`).
fn heredocs(args: &str) -> Vec<Heredoc> {
    let chars: Vec<char> = args.chars().collect();
    let mut found = Vec::new();
    let mut quote: Option<char> = None;
    let mut word_start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some('"') if c == '\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\\' => i += 1,
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c.is_whitespace() => word_start = i + 1,
            None if c == '<' && chars.get(i + 1) == Some(&'<') => {
                let at_word_start = chars[word_start..i].iter().all(char::is_ascii_digit);
                if at_word_start && chars.get(i + 2) != Some(&'<') {
                    if let Some((heredoc, end)) = heredoc_at(&chars, i + 2) {
                        found.push(heredoc);
                        i = end;
                        continue;
                    }
                }
                // A here-string or a shift: skip the whole run of `<`.
                while chars.get(i) == Some(&'<') {
                    i += 1;
                }
                continue;
            }
            None => {}
        }
        i += 1;
    }
    found
}

/// Reads `[-]WORD` or `[-]"WORD"` / `[-]'WORD'` at `start`; returns it and
/// the index after it.
fn heredoc_at(chars: &[char], start: usize) -> Option<(Heredoc, usize)> {
    let mut i = start;
    let strip_tabs = chars.get(i) == Some(&'-');
    if strip_tabs {
        i += 1;
    }
    let delimiter: String;
    if let Some(&q) = chars.get(i).filter(|c| **c == '"' || **c == '\'') {
        let close = chars[i + 1..].iter().position(|c| *c == q)? + i + 1;
        delimiter = chars[i + 1..close].iter().collect();
        i = close + 1;
    } else {
        let end = chars[i..]
            .iter()
            .position(|c| c.is_whitespace() || "<>|&;()'\"".contains(*c))
            .map_or(chars.len(), |p| p + i);
        delimiter = chars[i..end].iter().collect();
        i = end;
    }
    (!delimiter.is_empty()).then_some((
        Heredoc {
            delimiter,
            strip_tabs,
        },
        i,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords(text: &str) -> Vec<String> {
        Document::parse(text)
            .unwrap()
            .instructions
            .into_iter()
            .map(|i| i.keyword)
            .collect()
    }

    #[test]
    fn heredoc_markers_are_found_outside_quotes_only() {
        let names = |args: &str| -> Vec<(String, bool)> {
            heredocs(args)
                .into_iter()
                .map(|h| (h.delimiter, h.strip_tabs))
                .collect()
        };
        assert_eq!(names("<<EOF"), [("EOF".into(), false)]);
        assert_eq!(names("<<-'END' cat"), [("END".into(), true)]);
        assert_eq!(
            names("<<\"A\" <<B sh"),
            [("A".into(), false), ("B".into(), false)]
        );
        assert_eq!(names("python3 <<EOF > out"), [("EOF".into(), false)]);
        assert_eq!(names("3<<EOF"), [("EOF".into(), false)]);
        assert!(names("echo '<<EOF'").is_empty());
        assert!(names("echo \"<<EOF\"").is_empty());
        assert!(names("cat <<<word").is_empty());
        assert!(names("echo $((1<<2))").is_empty());
        assert!(names("[\"sh\", \"-c\", \"cat <<EOF\"]").is_empty());
    }

    #[test]
    fn directives_stop_at_the_first_other_line() {
        assert_eq!(
            directive("# syntax=docker/dockerfile:1"),
            Some(("syntax".into(), "docker/dockerfile:1".into()))
        );
        assert_eq!(
            directive("#Escape = `"),
            Some(("escape".into(), "`".into()))
        );
        assert_eq!(directive("# a comment"), None);
        // `escape` after a blank line is a comment: the default `\` stays.
        let text = "\n# escape=`\nFROM a\nRUN x `\nFROM b\n";
        assert_eq!(keywords(text), ["FROM", "RUN", "FROM"]);
    }

    #[test]
    fn continuation_needs_the_escape_char_at_the_end() {
        assert_eq!(strip_continuation("RUN a \\  ", '\\'), ("RUN a ", true));
        assert_eq!(strip_continuation("RUN a `", '`'), ("RUN a ", true));
        assert_eq!(strip_continuation("RUN C:\\", '`'), ("RUN C:\\", false));
    }

    /// Found by the `dockerfile` fuzz target: a carriage return after the
    /// escape character on the last line, with no newline, read as the end
    /// of the instruction; once patching gave that line a newline, it became
    /// a continuation, and a second patch changed the file again. Docker
    /// drops trailing `\r`s (BuildKit's `trimNewline`), so it continues.
    #[test]
    fn a_carriage_return_ending_the_file_is_a_line_ending() {
        let open = |text: &str| {
            let doc = Document::parse(text).unwrap();
            doc.instructions.last().unwrap().open_continuation
        };
        assert!(open("FROM a\nRUN b \\\r"));
        assert!(open("FROM a\nRUN b \\\r\n"));
        // Control: without the escape character nothing continues.
        assert!(!open("FROM a\nRUN b\r"));
        assert_eq!(keywords("FROM a\r\r\nRUN b\r"), ["FROM", "RUN"]);
    }

    #[test]
    fn stage_base_and_alias_skip_flags() {
        let doc = Document::parse("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\n").unwrap();
        let stages = doc.stages();
        assert_eq!(stages[0].base(), "golang:1.22");
        assert_eq!(stages[0].alias(), Some("Build"));
    }

    fn bases(text: &str, build_args: &[(&str, &str)]) -> Vec<Result<BaseRef, Unresolved>> {
        let args = build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let doc = Document::parse(text).unwrap();
        let resolved = doc.resolved_stages(&args);
        resolved
            .into_iter()
            .flat_map(|s| std::iter::once(s.base).chain(s.copy_from))
            .collect()
    }

    fn image(name: &str) -> Result<BaseRef, Unresolved> {
        Ok(BaseRef::Image(name.to_string()))
    }

    #[test]
    fn heredoc_bodies_hold_no_stages() {
        let text = "FROM a\nRUN <<EOF\nFROM b\nEOF\nRUN <<-X cat\n\tFROM c\n\tX\n";
        let doc = Document::parse(text).unwrap();
        assert_eq!(doc.stages().len(), 1);
        assert_eq!(doc.instructions[1].heredocs, ["EOF"]);
        assert_eq!(doc.instructions[2].heredocs, ["X"]);
        assert_eq!(bases(text, &[]), [image("a")]);
    }

    #[test]
    fn stages_resolve_to_scratch_earlier_stages_or_images() {
        let text = "# escape=`\nARG BASE=debian:bookworm\nFROM --platform=$BUILDPLATFORM ${BASE} AS Builder\n\
                    RUN make `\n  all\nFROM scratch\nCOPY --from=builder /a /a\nCOPY --from=0 /b /b\n\
                    COPY --link --from=nanoclaw-other:1 /c /c\nFROM BUILDER\n";
        assert_eq!(
            bases(text, &[]),
            [
                image("debian:bookworm"),
                Ok(BaseRef::Scratch),
                Ok(BaseRef::Stage(0)),
                Ok(BaseRef::Stage(0)),
                image("nanoclaw-other:1"),
                Ok(BaseRef::Stage(0)),
            ]
        );
        let given = bases(text, &[("BASE", "nanoclaw-base:1")]);
        assert_eq!(given[0], image("nanoclaw-base:1"));
    }

    #[test]
    fn unresolvable_references_say_why() {
        let unresolved = |reference: &str, reason: &str| {
            Err(Unresolved {
                reference: reference.to_string(),
                reason: reason.to_string(),
            })
        };
        assert_eq!(
            bases("FROM ${NOPE}\n", &[]),
            [unresolved("${NOPE}", "`NOPE` has no value")]
        );
        assert_eq!(
            bases("FROM ${OPEN\n", &[]),
            [unresolved("${OPEN", "an unclosed `${`")]
        );
        assert_eq!(
            bases("FROM --platform=linux/amd64\n", &[]),
            [unresolved("", "it names no image")]
        );
        assert_eq!(bases("ARG T\nFROM d:${T:-12}\n", &[]), [image("d:12")]);
        assert_eq!(
            bases("ARG T\nFROM d:${T:-12}\n", &[("T", "13")]),
            [image("d:13")]
        );
    }

    #[test]
    fn flags_are_the_leading_double_dash_words() {
        let doc = Document::parse("COPY --link --from=x --chown=1 --a b /--from=y\n").unwrap();
        let copy = &doc.instructions[0];
        assert_eq!(
            copy.flags().collect::<Vec<_>>(),
            [
                ("link", None),
                ("from", Some("x")),
                ("chown", Some("1")),
                ("a", None)
            ]
        );
        assert_eq!(copy.flag("from"), Some("x"));
        assert_eq!(copy.flag("LINK"), Some(""));
        assert_eq!(copy.flag("chmod"), None);
    }

    #[test]
    fn directives_are_kept_with_their_lines() {
        let doc = Document::parse("# syntax=docker/dockerfile:1\n#escape=`\nFROM a\n").unwrap();
        let found: Vec<(&str, &str, usize)> = doc
            .directives
            .iter()
            .map(|d| (d.name.as_str(), d.value.as_str(), d.line))
            .collect();
        assert_eq!(
            found,
            [("syntax", "docker/dockerfile:1", 0), ("escape", "`", 1)]
        );
    }

    #[test]
    fn render_keeps_a_missing_final_newline() {
        let doc = Document::parse("FROM a").unwrap();
        let insert = BTreeMap::from([(0, vec!["ARG x".to_string()])]);
        assert_eq!(doc.render(&insert), "FROM a\nARG x");
        let doc = Document::parse("FROM a\r\n").unwrap();
        assert_eq!(doc.render(&insert), "FROM a\r\nARG x\r\n");
    }
}
