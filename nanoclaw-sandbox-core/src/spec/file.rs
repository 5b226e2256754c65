//! Container spec files: a [`ContainerSpec`] in its serde form, as TOML or
//! JSON (docs/spec-file.md). `nanoclaw-sandbox run --spec` and `doctor
//! --spec` read them through [`read`]; [`parse`] takes text already in hand.
//!
//! The format is chosen by the file's extension (`.toml`, `.json`), else
//! whichever parses. Unknown fields are refused and named, and every error
//! names the file it is about.

use std::fmt;
use std::path::{Path, PathBuf};

use super::ContainerSpec;

/// The most a spec file may hold: a spec is a few hundred bytes, and a
/// larger file is the wrong file.
pub const MAX_SPEC_FILE_BYTES: u64 = 1024 * 1024;

/// The format a spec file is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecFormat {
    /// TOML (a `.toml` file).
    Toml,
    /// JSON (a `.json` file).
    Json,
    /// JSON if it parses, else TOML (any other name).
    Either,
}

impl SpecFormat {
    /// The format a file of this name is read as.
    pub fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => SpecFormat::Toml,
            Some("json") => SpecFormat::Json,
            _ => SpecFormat::Either,
        }
    }
}

impl fmt::Display for SpecFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpecFormat::Toml => "TOML",
            SpecFormat::Json => "JSON",
            SpecFormat::Either => "JSON or TOML",
        })
    }
}

/// Why a spec file was refused. Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecFileError {
    /// The file could not be read.
    #[error("cannot read the spec file {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// The file is larger than [`MAX_SPEC_FILE_BYTES`].
    #[error(
        "the spec file {} is larger than {MAX_SPEC_FILE_BYTES} bytes: a container spec is a few \
         hundred bytes; check that this is the right file",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file is not UTF-8 text.
    #[error("the spec file {} is not UTF-8 text: save it as UTF-8 TOML or JSON", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// The text is not a valid spec in the format its name asks for: the
    /// parser's reason names the field (an unknown field, a missing `image`,
    /// a value the spec refuses) and the line.
    #[error("the container spec {} is invalid ({format}): {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The format it was read as.
        format: SpecFormat,
        /// The parser's reason.
        reason: String,
    },
    /// A file named neither `.json` nor `.toml` that parses as neither.
    #[error(
        "{} is neither a JSON spec ({json}) nor a TOML spec ({toml}); name it .json or .toml for one error",
        path.display()
    )]
    Neither {
        /// The file.
        path: PathBuf,
        /// The JSON parser's reason.
        json: String,
        /// The TOML parser's reason.
        toml: String,
    },
}

/// Reads the spec file at `path` (TOML or JSON, see [`SpecFormat::of`]).
pub fn read(path: &Path) -> Result<ContainerSpec, SpecFileError> {
    use std::io::Read;
    let read_error = |cause| SpecFileError::Read {
        path: path.to_path_buf(),
        cause,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_SPEC_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_SPEC_FILE_BYTES {
        return Err(SpecFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| SpecFileError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    parse(&text, path)
}

/// Parses `text`, the content of the spec file `path` (the name picks the
/// format and is named in errors; nothing is read from it).
pub fn parse(text: &str, path: &Path) -> Result<ContainerSpec, SpecFileError> {
    let invalid = |format, reason: String| SpecFileError::Invalid {
        path: path.to_path_buf(),
        format,
        reason: reason.trim_end().to_string(),
    };
    match SpecFormat::of(path) {
        SpecFormat::Toml => {
            toml::from_str(text).map_err(|e| invalid(SpecFormat::Toml, e.to_string()))
        }
        SpecFormat::Json => {
            serde_json::from_str(text).map_err(|e| invalid(SpecFormat::Json, e.to_string()))
        }
        SpecFormat::Either => serde_json::from_str(text).or_else(|json| {
            toml::from_str(text).map_err(|toml| SpecFileError::Neither {
                path: path.to_path_buf(),
                json: json.to_string(),
                toml: toml.to_string().trim_end().to_string(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_or_toml_by_name_else_whichever_parses() {
        for (name, text) in [
            ("a.json", r#"{"image": "json:1"}"#),
            ("b", r#"{"image": "json:1"}"#),
            ("c", "image = \"json:1\"\n"),
            ("d.toml", "image = \"json:1\"\n"),
        ] {
            let spec = parse(text, Path::new(name)).unwrap();
            assert_eq!(spec.image(), "json:1", "{name}");
        }
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let err = parse("image = ", Path::new("/x/bad")).unwrap_err();
        assert!(matches!(err, SpecFileError::Neither { .. }), "{err:?}");
        assert!(err.to_string().contains("/x/bad"), "{err}");
        assert!(err.to_string().contains("name it .json or .toml"), "{err}");

        let err = parse("image = \"a\"\nimgae = \"b\"\n", Path::new("typo.toml")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("typo.toml") && text.contains("imgae"),
            "{text}"
        );

        let err = parse(r#"{"image": ""}"#, Path::new("empty.json")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("empty.json") && text.contains("image"),
            "{text}"
        );

        // A JSON file read as TOML: one error, the TOML one.
        let err = parse(r#"{"image": "a"}"#, Path::new("wrong.toml")).unwrap_err();
        assert!(
            matches!(
                err,
                SpecFileError::Invalid {
                    format: SpecFormat::Toml,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn read_refuses_missing_large_and_binary_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let err = read(&missing).unwrap_err();
        assert!(matches!(err, SpecFileError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.toml"), "{err}");

        let large = dir.path().join("large.json");
        std::fs::write(&large, vec![b' '; MAX_SPEC_FILE_BYTES as usize + 1]).unwrap();
        let err = read(&large).unwrap_err();
        assert!(matches!(err, SpecFileError::TooLarge { .. }), "{err:?}");

        let binary = dir.path().join("binary.json");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        let err = read(&binary).unwrap_err();
        assert!(matches!(err, SpecFileError::NotUtf8 { .. }), "{err:?}");

        let good = dir.path().join("good.toml");
        std::fs::write(&good, "image = \"a:1\"\n").unwrap();
        assert_eq!(read(&good).unwrap().image(), "a:1");
    }
}
