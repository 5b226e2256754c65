//! Running a command in a running container and collecting its output.

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};

use super::errors::{map_error, Ctx};
use super::{streams, DockerRuntime};
use crate::runtime::{ContainerId, ExecOutput, RuntimeError};

/// Runs `cmd` in `id`, reading stdout and stderr to their ends (each with
/// the exec idle timeout), then asks the engine for the exit code.
pub(super) async fn exec(
    runtime: &DockerRuntime,
    id: &ContainerId,
    cmd: &[String],
) -> Result<ExecOutput, RuntimeError> {
    let ctx = Ctx::container("exec in", id.as_str(), &runtime.endpoint);
    let config = CreateExecOptions {
        cmd: Some(cmd.to_vec()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        attach_stdin: Some(false),
        tty: Some(false),
        ..Default::default()
    };
    let created = runtime
        .docker
        .create_exec(id.as_str(), config)
        .await
        .map_err(|e| map_error(e, &ctx))?;
    let started = runtime
        .docker
        .start_exec(&created.id, Some(StartExecOptions::default()))
        .await
        .map_err(|e| map_error(e, &ctx))?;
    let StartExecResults::Attached { output, .. } = started else {
        return Err(RuntimeError::Transport {
            operation: format!("exec in {id}"),
            message: "the engine started the command detached".into(),
        });
    };
    let idle = runtime.idle.exec;
    let (stdout, stderr) = streams::demux(id.as_str(), output, idle, idle);
    let (stdout, stderr) = tokio::join!(stdout.read_to_end(), stderr.read_to_end());
    let (stdout, stderr) = (stdout?, stderr?);
    let inspected = runtime
        .docker
        .inspect_exec(&created.id)
        .await
        .map_err(|e| map_error(e, &ctx))?;
    let exit_code = inspected.exit_code.ok_or_else(|| RuntimeError::Transport {
        operation: format!("exec in {id}"),
        message: "the engine reported no exit code for the finished command".into(),
    })?;
    Ok(ExecOutput {
        exit_code,
        stdout,
        stderr,
    })
}
