//! The fuzz targets' committed corpora (`fuzz/corpus/TARGET/`), replayed as
//! ordinary tests on stable, with no fuzzing engine: every file goes to the
//! same function the fuzz target calls (`fuzz/src/lib.rs`, included here as
//! a module, not copied), which asserts the target's property (round trips,
//! errors naming their input) and must not panic. docs/fuzzing.md says how
//! to run the targets themselves.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// A target's corpus folder.
fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Feeds every file of `dir` to `body`; the files whose replay panicked,
/// and how many files there were.
fn replay(dir: &Path, body: fn(&[u8])) -> (Vec<String>, usize) {
    let mut failed = Vec::new();
    let mut count = 0;
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list the corpus {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a corpus entry").path();
        let data =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        count += 1;
        if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    (failed, count)
}

#[test]
fn every_committed_corpus_file_replays_without_a_failed_property() {
    let mut failed = Vec::new();
    for (name, body) in targets::TARGETS {
        let (bad, count) = replay(&corpus_dir(name), *body);
        println!(
            "fuzz corpus {name}: {count} files replayed, {} failed",
            bad.len()
        );
        // A target whose corpus is missing or nearly empty proves nothing.
        assert!(
            count >= 3,
            "the corpus of `{name}` has {count} files: commit its seeds"
        );
        failed.extend(bad);
    }
    assert!(
        failed.is_empty(),
        "these corpus files fail their target: {failed:?}"
    );
}

#[test]
fn every_target_has_a_fuzz_target_file_and_a_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, _) in targets::TARGETS {
        let file = root.join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        assert!(
            text.contains(&format!("nanoclaw_sandbox_fuzz::{name}(data)")),
            "{} does not call the shared body `{name}`",
            file.display()
        );
        assert!(corpus_dir(name).is_dir(), "no corpus folder for `{name}`");
    }
}

/// Negative controls: the replay sees a failed property, and the
/// properties catch what they are about.
#[test]
fn a_broken_property_fails_the_replay() {
    // A body whose property fails on every input: each file is reported.
    fn always_fails(_: &[u8]) {
        panic!("a deliberately broken property");
    }
    let dir = corpus_dir("dockerfile");
    let (failed, count) = replay(&dir, always_fails);
    assert!(count > 0);
    assert_eq!(failed.len(), count, "every file is reported: {failed:?}");

    // A "patch" that drops an original line fails the Dockerfile property.
    let dropped = catch_unwind(|| {
        targets::assert_lines_kept("FROM a\nRUN b\nRUN c\n", "FROM a\nARG x\nRUN c\n")
    });
    assert!(dropped.is_err(), "a dropped line goes unnoticed");
    // And one that reorders lines.
    let reordered =
        catch_unwind(|| targets::assert_lines_kept("FROM a\nRUN b\n", "RUN b\nFROM a\n"));
    assert!(reordered.is_err(), "reordered lines go unnoticed");
    // While inserted lines and a gained final newline are fine.
    targets::assert_lines_kept("FROM a\r\nRUN b", "FROM a\r\nARG x\r\nRUN b\r\nARG y");
}
